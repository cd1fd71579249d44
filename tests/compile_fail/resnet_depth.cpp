// expect: resnet<Depth> is built for 18 and 34
#include <tailor/nn/backbones/resnet.hpp>

#ifdef TAILOR_COMPILE_FAIL_CONTROL
static_assert(sizeof(tailor::nn::resnet<34>) > 0);
#else
static_assert(sizeof(tailor::nn::resnet<50>) > 0);  // ResNet-50 has bottleneck blocks, not built
#endif
int main() {}
