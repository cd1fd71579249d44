// expect: every layer of a sequential<> must use the same backend
#include <tailor/backend/cpu.hpp>
#include <tailor/nn/layers/activation.hpp>
#include <tailor/nn/layers/sequential.hpp>

using float_relu = tailor::nn::activation<tailor::backend::cpu_t<float>>;
using double_relu = tailor::nn::activation<tailor::backend::cpu_t<double>>;
#ifdef TAILOR_COMPILE_FAIL_CONTROL
static_assert(sizeof(tailor::nn::sequential<float_relu, float_relu>) > 0);
#else
static_assert(sizeof(tailor::nn::sequential<float_relu, double_relu>) > 0);
#endif
int main() {}
