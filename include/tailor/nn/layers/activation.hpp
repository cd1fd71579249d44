#pragma once
// A pointwise activation layer (ReLU, ReLU6, hard-sigmoid, hard-swish, SiLU, sigmoid); no parameters.
#include "../activation_kind.hpp"
#include "../concepts.hpp"
#include "../parameter.hpp"

namespace tailor::nn {

template <Backend B>
class activation {
 public:
  using backend = B;
  using tensor = typename B::tensor;

  activation() = default;
  explicit activation(activation_kind k) : kind_(k) {}

  tensor forward(tensor x, bool training) {
    if (kind_ == activation_kind::identity) return x;
    if (!training) {  // nothing to remember: in place
      B::activation_forward(kind_, x, x);
      return x;
    }
    if (B::keeps_mask(kind_)) {  // in place, remembering only where the slope is non-zero
      B::activation_forward_masked(kind_, x, mask_);
      return x;
    }
    tensor y;
    B::activation_forward(kind_, x, y);
    if (training) input_ = std::move(x);
    return y;
  }
  tensor backward(const tensor& dy) {
    if (kind_ == activation_kind::identity) return dy;
    tensor dx;
    if (B::keeps_mask(kind_)) {
      B::activation_backward_masked(kind_, mask_, dy, dx);
      return dx;
    }
    B::activation_backward(kind_, input_, dy, dx);
    return dx;
  }
  template <class F>
  void visit_parameters(const std::string&, F&&) {}
  template <class F>
  void visit_buffers(const std::string&, F&&) {}
  activation_kind kind() const { return kind_; }
  void release_cache() {
    input_ = tensor();
    mask_ = typename B::mask_tensor();
  }

 private:
  activation_kind kind_ = activation_kind::relu;
  tensor input_;
  typename B::mask_tensor mask_;
};

}  // namespace tailor::nn
