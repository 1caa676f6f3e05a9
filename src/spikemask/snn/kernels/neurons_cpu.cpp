// Fused CPU scans of spikemask's neurons (the "cpp" backend of spikemask.snn.kernels).
//
// Every kernel takes time-major, contiguous [T, N] tensors (N = all neurons of one step) and runs
// the whole scan over T in one pass: neurons are split into blocks over the cores, and within a
// block the membrane stays in cache while the loop walks the steps. Each arithmetic operation
// rounds to the compute type exactly as the reference loop in spikemask/snn/neurons.py does
// (built with -ffp-contract=off), so the spikes are bit-identical to it.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

// With glibc's vector math library (cpu.py links it on x86-64 Linux and defines SPIKEMASK_LIBMVEC),
// expf has SIMD variants (max error 1 ulp), so the sigmoid surrogate's loop vectorizes too.
#ifdef SPIKEMASK_LIBMVEC
extern "C" float expf(float) __attribute__((simd("notinbranch")));
#endif

// On x86-64 each block loop is compiled twice, for AVX2 and for the baseline, and the loader picks
// the one this CPU runs (GCC function multi-versioning): 8 lanes where there are 8, safe everywhere.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SPIKEMASK_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SPIKEMASK_CLONES
#endif

namespace {

constexpr int64_t kBlock = 512;   // neurons per block: the block's state stays in L1 while t advances
constexpr int64_t kGrain = 4096;  // neurons per parallel task

// Run body(lo, m) over blocks [lo, lo + m) of the N neurons, the blocks spread over the cores.
template <typename F>
void for_blocks(int64_t n, F body) {
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b += kBlock) body(b, std::min(end, b + kBlock) - b);
  });
}

// IF with reset by subtraction over one block of m neurons (pointers at the block's first neuron;
// rows of the [T, N] tensors are N apart). out[t] = theta * s[t]; v ends at the final membrane.
template <typename scalar_t>
SPIKEMASK_CLONES void if_block(const scalar_t* __restrict__ x, scalar_t* __restrict__ out, scalar_t* __restrict__ v,
              int64_t T, int64_t N, int64_t m, scalar_t theta) {
  const scalar_t zero = 0;
  for (int64_t t = 0; t < T; ++t) {
    const scalar_t* __restrict__ xt = x + t * N;
    scalar_t* __restrict__ ot = out + t * N;
    _Pragma("omp simd")
    for (int64_t i = 0; i < m; ++i) {
      const scalar_t h = v[i] + xt[i];
      const scalar_t s = h >= theta ? theta : zero;
      v[i] = h - s;
      ot[i] = s;
    }
  }
}

torch::Tensor if_forward(torch::Tensor x, torch::Tensor v, double theta) {
  const int64_t T = x.size(0), N = x.numel() / std::max<int64_t>(T, 1);
  auto out = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "if_forward", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    scalar_t* vp = v.data_ptr<scalar_t>();
    for_blocks(N, [=](int64_t lo, int64_t m) {
      if_block<scalar_t>(xp + lo, op + lo, vp + lo, T, N, m, static_cast<scalar_t>(theta));
    });
  });
  return out;
}

// LIF forward over one block of m neurons (as if_block). Writes the spikes and, with kKeepH, the
// pre-spike membrane h; v ends at the final membrane.
// kDecayInput: h = v + (x - (v - rest)) / tau, else h = v - (v - rest) / tau + x.
// kHard: v = rest where s, else h. Soft reset: v = h - theta where s, else h.
template <typename scalar_t, bool kHard, bool kDecayInput, bool kKeepH>
SPIKEMASK_CLONES void lif_block(const scalar_t* __restrict__ x, scalar_t* __restrict__ out, scalar_t* __restrict__ hs,
               scalar_t* __restrict__ v, int64_t T, int64_t N, int64_t m, at::opmath_type<scalar_t> tau,
               scalar_t theta, scalar_t rest) {
  const scalar_t one = 1, zero = 0;
  for (int64_t t = 0; t < T; ++t) {
    const scalar_t* __restrict__ xt = x + t * N;
    scalar_t* __restrict__ ot = out + t * N;
    scalar_t* __restrict__ ht = kKeepH ? hs + t * N : nullptr;
    _Pragma("omp simd")
    for (int64_t i = 0; i < m; ++i) {
      const scalar_t vv = v[i];
      const scalar_t leak = vv - rest;
      scalar_t h;
      if constexpr (kDecayInput) {
        const scalar_t d = xt[i] - leak;
        h = vv + static_cast<scalar_t>(d / tau);   // torch divides by a Python scalar in the op-math type
      } else {
        const scalar_t dv = vv - static_cast<scalar_t>(leak / tau);
        h = dv + xt[i];
      }
      const bool fire = static_cast<scalar_t>(h - theta) >= zero;
      if constexpr (kKeepH) ht[i] = h;
      ot[i] = fire ? one : zero;
      if constexpr (kHard) v[i] = fire ? rest : h;
      else v[i] = fire ? static_cast<scalar_t>(h - theta) : h;
    }
  }
}

std::vector<torch::Tensor> lif_forward(torch::Tensor x, torch::Tensor v, double tau, double theta,
                                       double rest, bool hard, bool decay_input, bool keep_h) {
  const int64_t T = x.size(0), N = x.numel() / std::max<int64_t>(T, 1);
  auto out = torch::empty_like(x);
  auto hs = keep_h ? torch::empty_like(x) : torch::empty({0}, x.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "lif_forward", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    scalar_t* hp = keep_h ? hs.data_ptr<scalar_t>() : nullptr;
    scalar_t* vp = v.data_ptr<scalar_t>();
    // the 8 (hard, decay_input, keep_h) variants, each a loop without branches
    const auto tau_c = static_cast<at::opmath_type<scalar_t>>(tau);
    const auto theta_c = static_cast<scalar_t>(theta), rest_c = static_cast<scalar_t>(rest);
    auto run = [&](auto hard_c, auto decay_c, auto keep_c) {
      for_blocks(N, [=](int64_t lo, int64_t m) {
        lif_block<scalar_t, decltype(hard_c)::value, decltype(decay_c)::value, decltype(keep_c)::value>(
            xp + lo, op + lo, hp ? hp + lo : nullptr, vp + lo, T, N, m, tau_c, theta_c, rest_c);
      });
    };
    auto with_keep = [&](auto hard_c, auto decay_c) {
      keep_h ? run(hard_c, decay_c, std::true_type{}) : run(hard_c, decay_c, std::false_type{});
    };
    auto with_decay = [&](auto hard_c) {
      decay_input ? with_keep(hard_c, std::true_type{}) : with_keep(hard_c, std::false_type{});
    };
    hard ? with_decay(std::true_type{}) : with_decay(std::false_type{});
  });
  return {out, hs};
}

// The surrogate's derivative at u: sigmoid (kind 0) alpha * s * (1 - s), s = sigmoid(alpha u);
// atan (kind 1) alpha / 2 / (1 + (pi/2 alpha u)^2).
template <int kKind>
inline float surrogate_grad(float u, float alpha) {
  if constexpr (kKind == 0) {
    const float s = 1.f / (1.f + expf(-alpha * u));
    return alpha * s * (1.f - s);
  } else {
    const float k = 1.5707963267948966f * alpha * u;
    return alpha / 2.f / (1.f + k * k);
  }
}

// LIF backward: the reverse scan of the closed-form gradient (see lif_backward in kernels/torch_loops.py).
// grad_s [T, N] (gradient of the spikes), grad_v [N] (of the final membrane; updated in place into the
// gradient of the initial membrane), h [T, N] saved by the forward. Returns grad_x [T, N].
template <typename scalar_t, int kKind, bool kHard, bool kDetach>
SPIKEMASK_CLONES void lif_backward_block(const scalar_t* __restrict__ gs, const scalar_t* __restrict__ hs,
                        scalar_t* __restrict__ gx, scalar_t* __restrict__ gv_io, int64_t T, int64_t N,
                        int64_t m, at::opmath_type<scalar_t> theta, at::opmath_type<scalar_t> rest,
                        at::opmath_type<scalar_t> keep, at::opmath_type<scalar_t> dx, float alpha) {
  using acc_t = at::opmath_type<scalar_t>;
  acc_t gvb[kBlock];
  for (int64_t i = 0; i < m; ++i) gvb[i] = static_cast<acc_t>(gv_io[i]);
  for (int64_t t = T - 1; t >= 0; --t) {
    const scalar_t* __restrict__ ht = hs + t * N;
    const scalar_t* __restrict__ gst = gs + t * N;
    scalar_t* __restrict__ gxt = gx + t * N;
    _Pragma("omp simd")
    for (int64_t i = 0; i < m; ++i) {
      const acc_t h = static_cast<acc_t>(ht[i]);
      const acc_t u = static_cast<acc_t>(static_cast<scalar_t>(h - theta));
      const acc_t sg = static_cast<acc_t>(surrogate_grad<kKind>(static_cast<float>(u), alpha));
      const acc_t gv = gvb[i];
      const acc_t dvdh = kHard ? (u >= acc_t(0) ? acc_t(0) : acc_t(1)) : acc_t(1);
      const acc_t dvds = kDetach ? acc_t(0) : (kHard ? rest - h : -theta);
      const acc_t gh = (static_cast<acc_t>(gst[i]) + gv * dvds) * sg + gv * dvdh;
      gxt[i] = static_cast<scalar_t>(gh * dx);
      gvb[i] = gh * keep;
    }
  }
  for (int64_t i = 0; i < m; ++i) gv_io[i] = static_cast<scalar_t>(gvb[i]);
}

torch::Tensor lif_backward(torch::Tensor grad_s, torch::Tensor grad_v, torch::Tensor h, double tau,
                           double theta, double rest, bool hard, bool decay_input, bool detach_reset,
                           int64_t surrogate, double alpha) {
  const int64_t T = h.size(0), N = h.numel() / std::max<int64_t>(T, 1);
  auto grad_x = torch::empty_like(h);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, h.scalar_type(), "lif_backward", [&] {
    const scalar_t* gs = grad_s.data_ptr<scalar_t>();
    const scalar_t* hp = h.data_ptr<scalar_t>();
    scalar_t* gx = grad_x.data_ptr<scalar_t>();
    scalar_t* gvp = grad_v.data_ptr<scalar_t>();
    using acc_t = at::opmath_type<scalar_t>;
    const acc_t theta_c = static_cast<acc_t>(static_cast<scalar_t>(theta));
    const acc_t rest_c = static_cast<acc_t>(static_cast<scalar_t>(rest));
    const acc_t keep = static_cast<acc_t>(1.0 - 1.0 / tau);                     // dh/dv
    const acc_t dx = decay_input ? static_cast<acc_t>(1.0 / tau) : acc_t(1);   // dh/dx
    const float alpha_c = static_cast<float>(alpha);
    auto run = [&](auto kind_c, auto hard_c, auto detach_c) {
      for_blocks(N, [=](int64_t lo, int64_t m) {
        lif_backward_block<scalar_t, decltype(kind_c)::value, decltype(hard_c)::value, decltype(detach_c)::value>(
            gs + lo, hp + lo, gx + lo, gvp + lo, T, N, m, theta_c, rest_c, keep, dx, alpha_c);
      });
    };
    auto with_detach = [&](auto kind_c, auto hard_c) {
      detach_reset ? run(kind_c, hard_c, std::true_type{}) : run(kind_c, hard_c, std::false_type{});
    };
    auto with_hard = [&](auto kind_c) {
      hard ? with_detach(kind_c, std::true_type{}) : with_detach(kind_c, std::false_type{});
    };
    surrogate == 0 ? with_hard(std::integral_constant<int, 0>{}) : with_hard(std::integral_constant<int, 1>{});
  });
  return grad_x;
}

// Signed, bounded IF (ST-BIF+): out[t] = step * n[t], n in {-k..k}; v and count updated in place.
// Input after step `last_input` is not added (it is zero there), as in the reference.
torch::Tensor signed_if_forward(torch::Tensor x, torch::Tensor v, torch::Tensor count, double step_d,
                                int64_t levels, int64_t max_spikes, int64_t last_input) {
  const int64_t T = x.size(0), N = x.numel() / std::max<int64_t>(T, 1);
  auto out = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "signed_if_forward", [&] {
    const scalar_t step = static_cast<scalar_t>(step_d), zero = 0, one = 1;
    const scalar_t L = static_cast<scalar_t>(levels), K = static_cast<scalar_t>(max_spikes);
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    scalar_t* vp = v.data_ptr<scalar_t>();
    scalar_t* cp = count.data_ptr<scalar_t>();
    for_blocks(N, [&](int64_t lo, int64_t m) {
      scalar_t vb[kBlock], cb[kBlock];
      std::copy(vp + lo, vp + lo + m, vb);
      std::copy(cp + lo, cp + lo + m, cb);
      for (int64_t t = 0; t < T; ++t) {
        const scalar_t* __restrict__ xt = xp + t * N + lo;
        scalar_t* __restrict__ ot = op + t * N + lo;
        const bool feed = t <= last_input;
        for (int64_t i = 0; i < m; ++i) {
          const scalar_t vv = feed ? static_cast<scalar_t>(vb[i] + xt[i]) : vb[i];
          const scalar_t c = cb[i];
          scalar_t k;
          if (max_spikes == 1) {
            k = (vv >= step && c < L) ? one : ((vv < zero && c > zero) ? -one : zero);
          } else {
            scalar_t up = std::floor(static_cast<scalar_t>(vv / step));
            scalar_t down = std::ceil(static_cast<scalar_t>(-vv / step));
            up = up > zero ? up : zero;
            down = down > zero ? down : zero;
            const scalar_t room = static_cast<scalar_t>(L - c);
            k = static_cast<scalar_t>((up < room ? up : room) - (down < c ? down : c));
            k = k > K ? K : (k < -K ? -K : k);
          }
          const scalar_t spike = static_cast<scalar_t>(k * step);
          vb[i] = vv - spike;
          cb[i] = c + k;
          ot[i] = spike;
        }
      }
      std::copy(vb, vb + m, vp + lo);
      std::copy(cb, cb + m, cp + lo);
    });
  });
  return out;
}

// The unsigned integer type of a scalar's bits, and the mask of all its bits but the sign: a value is
// nonzero (NaN included, -0.0 not) exactly when its bits & mask are, and OR-ing bits vectorizes.
template <typename scalar_t>
using bits_t = std::conditional_t<sizeof(scalar_t) == 8, uint64_t,
                                  std::conditional_t<sizeof(scalar_t) == 4, uint32_t, uint16_t>>;

template <typename scalar_t>
constexpr bits_t<scalar_t> magnitude_mask() {
  return static_cast<bits_t<scalar_t>>(~(bits_t<scalar_t>(1) << (8 * sizeof(scalar_t) - 1)));
}

// Whether the strided block at p (dims sizes/strides, the last one innermost) holds a nonzero value;
// stops at the first chunk that does.
template <typename scalar_t>
bool any_nonzero(const scalar_t* p, const int64_t* sizes, const int64_t* strides, int64_t dims) {
  using bits = bits_t<scalar_t>;
  constexpr bits mask = magnitude_mask<scalar_t>();
  const bits* q = reinterpret_cast<const bits*>(p);
  if (dims == 0) return (q[0] & mask) != 0;
  if (dims > 1) {
    for (int64_t i = 0; i < sizes[0]; ++i)
      if (any_nonzero(p + i * strides[0], sizes + 1, strides + 1, dims - 1)) return true;
    return false;
  }
  constexpr int64_t kChunk = 8192;
  const int64_t n = sizes[0], stride = strides[0];
  std::atomic<bool> found{false};
  at::parallel_for(0, n, 16 * kChunk, [&](int64_t begin, int64_t end) {  // the cores share long rows
    for (int64_t lo = begin; lo < end && !found.load(std::memory_order_relaxed); lo += kChunk) {
      const int64_t hi = std::min(end, lo + kChunk);
      bits acc = 0;
      if (stride == 1) {
        for (int64_t i = lo; i < hi; ++i) acc |= q[i];
      } else {
        for (int64_t i = lo; i < hi; ++i) acc |= q[i * stride];
      }
      if ((acc & mask) != 0) found.store(true, std::memory_order_relaxed);
    }
  });
  return found.load();
}

// Index of the last step of x [T, ...] (any strides) with a nonzero value (-1: none). Walks back from
// the last step and stops at the first nonzero chunk, so it reads a silent tail and a little of one
// active step. The dimensions of a step are walked largest stride first (the order is irrelevant to
// the answer, and this one reads memory forwards).
int64_t last_active_step(torch::Tensor x) {
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, size) of each dimension of one step
  for (int64_t d = 1; d < x.dim(); ++d)
    if (x.size(d) != 1) dims.emplace_back(x.stride(d), x.size(d));
  std::sort(dims.begin(), dims.end(), [](auto a, auto b) { return a.first > b.first; });
  std::vector<int64_t> sizes, strides;
  for (auto [stride, size] : dims) {
    if (size == 0) return -1;
    if (!sizes.empty() && strides.back() == stride * size) {  // contiguous with the one outside: merge
      sizes.back() *= size;
      strides.back() = stride;
    } else {
      sizes.push_back(size);
      strides.push_back(stride);
    }
  }
  int64_t found = -1;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "last_active_step", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    for (int64_t t = x.size(0) - 1; t >= 0 && found < 0; --t)
      if (any_nonzero(xp + t * x.stride(0), sizes.data(), strides.data(), static_cast<int64_t>(sizes.size())))
        found = t;
  });
  return found;
}

}  // namespace

// allocator_cpu.cpp, the other source of this extension
bool install_caching_allocator(int64_t limit_bytes);
int64_t cached_bytes();

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("if_forward", &if_forward, "IF scan (reset by subtraction)");
  m.def("lif_forward", &lif_forward, "LIF scan, forward");
  m.def("lif_backward", &lif_backward, "LIF scan, reverse (closed-form gradient)");
  m.def("signed_if_forward", &signed_if_forward, "signed IF (ST-BIF+) scan");
  m.def("last_active_step", &last_active_step, "last step with a nonzero value");
  m.def("install_caching_allocator", &install_caching_allocator, "make the caching allocator torch's CPU allocator");
  m.def("cached_bytes", &cached_bytes, "bytes the caching CPU allocator holds for reuse");
}
