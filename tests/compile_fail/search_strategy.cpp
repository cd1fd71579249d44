// expect: a search strategy needs a constructor
#include <tailor/automl/customizer.hpp>
#include <tailor/nn/backbones/small_cnn.hpp>

struct coin_flip {  // proposes nothing the customizer can use
  static constexpr std::string_view name = "coin_flip";
};
#ifdef TAILOR_COMPILE_FAIL_CONTROL
using search_type = tailor::search::random;
#else
using search_type = coin_flip;
#endif
using my_customizer = tailor::customizer<tailor::task::classification, tailor::backbones<tailor::nn::small_cnn>,
                                         search_type, tailor::budget::compute_time, tailor::backend::cpu>;
int main() {
  tailor::pipeline::classification_samples samples;
  (void)my_customizer().train(samples, {});
}
