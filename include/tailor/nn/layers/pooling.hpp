#pragma once
// Max pooling, average pooling (padding counted, as torch's default) and global average pooling.
#include "../concepts.hpp"
#include "../conv2d_shape.hpp"
#include "../parameter.hpp"

namespace tailor::nn {

inline conv2d_shape pool_window(int kernel, int stride, int padding) {
  conv2d_shape s;
  s.in_channels = s.out_channels = 1;
  s.kernel_h = s.kernel_w = kernel;
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = padding;
  s.validate();
  return s;
}

template <Backend B>
class max_pool2d {
 public:
  using backend = B;
  using tensor = typename B::tensor;
  max_pool2d() = default;
  max_pool2d(int kernel, int stride, int padding = 0) : window_(pool_window(kernel, stride, padding)) {}

  tensor forward(tensor x, bool training) {
    window_.check_input(int(x.shape()[2]), int(x.shape()[3]));
    tensor y;
    B::max_pool_forward(window_, x, y, argmax_);
    input_shape_ = x.shape();
    (void)training;
    return y;
  }
  tensor backward(const tensor& dy) {
    tensor dx;
    B::max_pool_backward(window_, input_shape_, argmax_, dy, dx);
    return dx;
  }
  template <class F>
  void visit_parameters(const std::string&, F&&) {}
  template <class F>
  void visit_buffers(const std::string&, F&&) {}
  void release_cache() { argmax_ = typename B::index_tensor(); }

 private:
  conv2d_shape window_;
  typename B::index_tensor argmax_;
  typename tensor::shape_type input_shape_{};
};

template <Backend B>
class avg_pool2d {
 public:
  using backend = B;
  using tensor = typename B::tensor;
  avg_pool2d() = default;
  avg_pool2d(int kernel, int stride, int padding = 0) : window_(pool_window(kernel, stride, padding)) {}

  tensor forward(tensor x, bool) {
    window_.check_input(int(x.shape()[2]), int(x.shape()[3]));
    tensor y;
    B::avg_pool_forward(window_, x, y);
    input_shape_ = x.shape();
    return y;
  }
  tensor backward(const tensor& dy) {
    tensor dx;
    B::avg_pool_backward(window_, input_shape_, dy, dx);
    return dx;
  }
  template <class F>
  void visit_parameters(const std::string&, F&&) {}
  template <class F>
  void visit_buffers(const std::string&, F&&) {}
  void release_cache() {}

 private:
  conv2d_shape window_;
  typename tensor::shape_type input_shape_{};
};

// N x C x H x W -> N x C x 1 x 1 (the pooled feature vector of a backbone).
template <Backend B>
class global_avg_pool {
 public:
  using backend = B;
  using tensor = typename B::tensor;

  tensor forward(tensor x, bool) {
    tensor y;
    B::global_avg_pool_forward(x, y);
    input_shape_ = x.shape();
    return y;
  }
  tensor backward(const tensor& dy) {
    tensor dx;
    B::global_avg_pool_backward(input_shape_, dy, dx);
    return dx;
  }
  template <class F>
  void visit_parameters(const std::string&, F&&) {}
  template <class F>
  void visit_buffers(const std::string&, F&&) {}
  void release_cache() {}

 private:
  typename tensor::shape_type input_shape_{};
};

}  // namespace tailor::nn
