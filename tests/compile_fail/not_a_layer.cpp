// expect: this type is not a Layer: it needs forward\(tensor, bool\)
#include <tailor/backend/cpu.hpp>
#include <tailor/nn/layers/activation.hpp>
#include <tailor/nn/layers/sequential.hpp>

struct not_a_layer {  // a backend, but no forward / backward / visit_parameters
  using backend = tailor::backend::cpu;
};
using relu = tailor::nn::activation<tailor::backend::cpu>;
#ifdef TAILOR_COMPILE_FAIL_CONTROL
static_assert(sizeof(tailor::nn::sequential<relu, relu>) > 0);
#else
static_assert(sizeof(tailor::nn::sequential<relu, not_a_layer>) > 0);
#endif
int main() {}
