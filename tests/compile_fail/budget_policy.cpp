// expect: the budget must be a budget policy
#include <tailor/automl/customizer.hpp>
#include <tailor/nn/backbones/small_cnn.hpp>

struct hourglass {};  // not a budget policy
#ifdef TAILOR_COMPILE_FAIL_CONTROL
using budget_type = tailor::budget::compute_time;
#else
using budget_type = hourglass;
#endif
using my_customizer = tailor::customizer<tailor::task::classification, tailor::backbones<tailor::nn::small_cnn>,
                                         tailor::search::asha, budget_type, tailor::backend::cpu>;
static_assert(my_customizer::backbone_count == 1);
int main() {}
