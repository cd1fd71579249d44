// expect: the backbone must be a tag with name, head_name and make<Backend>\(\)
#include <tailor/backend/cpu.hpp>
#include <tailor/nn/backbones/small_cnn.hpp>
#include <tailor/task/classification_network.hpp>

struct my_backbone {};  // no name, head_name or make<Backend>()
#ifdef TAILOR_COMPILE_FAIL_CONTROL
static_assert(sizeof(tailor::task::classification_network<tailor::nn::small_cnn, tailor::backend::cpu>) > 0);
#else
static_assert(sizeof(tailor::task::classification_network<my_backbone, tailor::backend::cpu>) > 0);
#endif
int main() {}
