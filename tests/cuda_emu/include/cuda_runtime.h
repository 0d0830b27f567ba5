// cuda-emu (see cuda_emu.h): the runtime API subset assay uses. Work is queued per stream and
// runs, in stream order, only when the host waits for it (stream, event or device
// synchronisation, synchronous copies, cudaFree, a copy to pageable memory), so results read or
// buffers reused without a wait show it. A stream being captured records work into a graph
// instead; cudaGraphLaunch queues its nodes. Device memory is host memory with a guard zone after
// each allocation, checked after every kernel and copy.
#pragma once

#include <functional>

#include "cuda_emu.h"
#include "cuda_fp16.h"

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNoDevice = 100,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureWrongThread = 908,
  cudaErrorGraphExecUpdateFailure = 910,
};
using cudaError = cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};
enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};
enum cudaSharedCarveout { cudaSharedmemCarveoutDefault = -1, cudaSharedmemCarveoutMaxShared = 100 };

constexpr unsigned cudaStreamDefault = 0;
constexpr unsigned cudaStreamNonBlocking = 1;
constexpr unsigned cudaEventDefault = 0;
constexpr unsigned cudaEventDisableTiming = 2;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  size_t sharedMemPerBlockOptin;
  int major, minor;
  int multiProcessorCount;
  int maxThreadsPerBlock;
  int warpSize;
  int l2CacheSize;
};

namespace emu {
struct StreamState;
struct EventState;
struct GraphState;
}  // namespace emu
using cudaStream_t = emu::StreamState*;
using cudaEvent_t = emu::EventState*;
using cudaGraph_t = emu::GraphState*;
using cudaGraphExec_t = emu::GraphState*;
struct cudaGraphExecUpdateResultInfo {
  int result;
  void* errorNode;
  void* errorFromNode;
};

cudaError_t cudaGetDeviceCount(int* n);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaMemGetInfo(size_t* free_b, size_t* total_b);

cudaError_t cudaMalloc(void** p, size_t bytes);
template <class T>
cudaError_t cudaMalloc(T** p, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
cudaError_t cudaFree(void* p);
cudaError_t cudaMallocHost(void** p, size_t bytes);
template <class T>
cudaError_t cudaMallocHost(T** p, size_t bytes) {
  return cudaMallocHost(reinterpret_cast<void**>(p), bytes);
}
cudaError_t cudaFreeHost(void* p);

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind k);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind k, cudaStream_t s = nullptr);
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind k, cudaStream_t s = nullptr);
cudaError_t cudaMemset(void* p, int v, size_t n);
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t s = nullptr);

cudaError_t cudaStreamCreate(cudaStream_t* s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g);

cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b);

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t g, unsigned long long flags = 0);
cudaError_t cudaGraphExecUpdate(cudaGraphExec_t exec, cudaGraph_t g, cudaGraphExecUpdateResultInfo* info);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s);
cudaError_t cudaGraphDestroy(cudaGraph_t g);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t g);

namespace emu {

// A launch: its configuration, and the pointer arguments (checked against the allocations).
inline dim3 to_dim3(dim3 d) { return d; }
template <class T>
  requires std::is_integral_v<T>
dim3 to_dim3(T v) {
  return dim3(static_cast<unsigned>(v));
}
struct LaunchCfg {
  dim3 grid;
  dim3 block;
  size_t smem = 0;
  cudaStream_t stream = nullptr;
  template <class G, class B>
  LaunchCfg(G g, B b, size_t bytes = 0, cudaStream_t s = nullptr)
      : grid(to_dim3(g)), block(to_dim3(b)), smem(bytes), stream(s) {}
};
struct PtrArg {
  const void* p;
  int index;
};
void submit_kernel(const char* name, const LaunchCfg& cfg, const PtrArg* ptrs, int n_ptrs, std::function<void()> body);
cudaError_t set_func_attribute(const char* kernel, cudaFuncAttribute a, int v);

// `kernel<<<cfg>>>(args)` becomes `launch("kernel", cfg, [=](auto... a) { kernel(a...); })(args)`
// (emu_source.py): the call deduces template arguments as the launch does on the device.
template <class F>
struct Launcher {
  const char* name;
  LaunchCfg cfg;
  F call;
  template <class... A>
  void operator()(A&&... a) const {
    // Arguments are copied at launch, as the device copies kernel parameters.
    std::tuple<std::decay_t<A>...> args(std::forward<A>(a)...);
    PtrArg ptrs[sizeof...(A) + 1];
    int n = 0;
    std::apply(
        [&](const auto&... v) {
          int i = 0;
          (
              [&](const auto& x) {
                if constexpr (std::is_pointer_v<std::decay_t<decltype(x)>>) ptrs[n++] = PtrArg{x, i};
                ++i;
              }(v),
              ...);
        },
        args);
    submit_kernel(name, cfg, ptrs, n, [f = call, args]() { std::apply(f, args); });
  }
};
template <class F>
Launcher<F> launch(const char* name, LaunchCfg cfg, F call) {
  return Launcher<F>{name, cfg, call};
}

}  // namespace emu
