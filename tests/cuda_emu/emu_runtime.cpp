// cuda-emu's runtime: block scheduling on fibers, memory with guard zones, streams, events,
// graphs and cuBLAS (see include/cuda_emu.h).
#include <sys/mman.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <bit>
#include <boost/context/fiber.hpp>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cublas_v2.h"
#include "cuda_bf16.h"
#include "cuda_runtime.h"

namespace emu {
namespace ctx = boost::context;

void fail(const char* fmt, ...) {
  static std::mutex once;
  once.lock();  // one report, even from blocks running in parallel; never unlocked: we abort
  std::fflush(stdout);
  std::fprintf(stderr, "cuda-emu: ");
  if (cur)
    std::fprintf(stderr, "block (%u,%u,%u) thread (%u,%u,%u): ", cur->block->bid.x, cur->block->bid.y,
                 cur->block->bid.z, cur->tid.x, cur->tid.y, cur->tid.z);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "\n");
  std::abort();
}

namespace {

// ---------------------------------------------------------------------------------------------
// Fiber stacks: mapped once per host thread and reused, with a guard page below each.
constexpr size_t kStack = size_t{256} << 10;
constexpr size_t kPage = 4096;

struct StackPool {
  std::vector<void*> free;
  ~StackPool() {
    for (void* p : free) munmap(p, kStack + kPage);
  }
};
thread_local StackPool stack_pool;

struct PooledStack {
  ctx::stack_context allocate() {
    void* base;
    if (!stack_pool.free.empty()) {
      base = stack_pool.free.back();
      stack_pool.free.pop_back();
    } else {
      base = mmap(nullptr, kStack + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (base == MAP_FAILED) fail("cannot map a fiber stack");
      mprotect(base, kPage, PROT_NONE);
    }
    ctx::stack_context sc;
    sc.size = kStack;
    sc.sp = static_cast<char*>(base) + kPage + kStack;
    return sc;
  }
  void deallocate(ctx::stack_context& sc) noexcept {
    stack_pool.free.push_back(static_cast<char*>(sc.sp) - kStack - kPage);
  }
};

// ---------------------------------------------------------------------------------------------
// Blocks.
//
// Warp collectives are dataflow, not barriers: the k-th collective of each lane deposits its
// value in slot k (a ring of kRing) and waits only for the lane it reads to have deposited its
// own k-th, so a warp's lanes run on until they need a value not yet there (a shuffle loop
// costs each lane about one switch, not one per shuffle). Lanes agree on k because convergent
// code runs the same collectives in the same order; a lane that reads one whose k-th collective
// had another mask is reported. A full-warp barrier (WMMA) waits for every running lane's k-th.
constexpr int kRing = 128;

struct WarpSync {
  unsigned live = 0;           // lanes still running
  int n_live = 0;
  int at_barrier = 0;          // lanes waiting at __syncthreads generation at_gen
  uint64_t at_gen = UINT64_MAX;
  uint64_t deposited[32] = {};  // per lane: collectives whose value it has put in its slot
  uint64_t completed[32] = {};  // per lane: collectives it has finished (read included)
  uint64_t val[kRing][32];  // left uninitialised: a slot is read only after its lane wrote it
  unsigned msk[kRing][32];
  uint64_t room_floor = 0;  // a lower bound of min_live(completed), which only grows
  uint64_t claimed = 0;  // 1 + the last collective whose result a lane has computed (warp_first)
  std::vector<unsigned char> scratch;
};

enum class Wait { kNone, kBlockBarrier, kLaneValue, kAllLanes, kRingRoom };

struct ThreadRun : Thread {
  ctx::fiber fib;
  ctx::fiber sink;
  Wait wait = Wait::kNone;
  uint64_t wait_gen = 0;  // kBlockBarrier: the barrier generation; warp waits: the collective
  int wait_lane = 0;      // kLaneValue: the lane read
  bool done = false;
};

struct BlockRun : Block {
  const char* kernel;
  std::vector<ThreadRun> threads;
  std::unique_ptr<WarpSync[]> warps;
  int live = 0;
  int bar_arrived = 0;
  uint64_t bar_gen = 0;
};

// Dynamic shared memory of the block running on this host thread: 256-byte aligned (kernels
// declare it __align__(128)), then a 64-byte tail that must stay 0xFF.
struct DynSmem {
  unsigned char* p = nullptr;
  size_t cap = 0;
  ~DynSmem() { std::free(p); }
};
thread_local DynSmem dyn_smem_buf;
constexpr size_t kSmemTail = 64;

ThreadRun* me() { return static_cast<ThreadRun*>(cur); }
BlockRun* my_block() { return static_cast<BlockRun*>(cur->block); }

// The smallest count over the warp's running lanes (of `per_lane`).
uint64_t min_live(const WarpSync& w, const uint64_t* per_lane) {
  uint64_t m = UINT64_MAX;
  for (unsigned l = w.live; l; l &= l - 1) m = std::min(m, per_lane[std::countr_zero(l)]);
  return m;
}

bool can_run(const BlockRun& b, const ThreadRun& t) {
  const WarpSync& w = b.warps[static_cast<size_t>(t.warp)];
  switch (t.wait) {
    case Wait::kNone: return true;
    case Wait::kBlockBarrier: return b.bar_gen != t.wait_gen;
    case Wait::kLaneValue: return w.deposited[t.wait_lane] > t.wait_gen;
    case Wait::kAllLanes: return min_live(w, w.deposited) > t.wait_gen;
    case Wait::kRingRoom: return min_live(w, w.completed) + kRing > t.wait_gen;
  }
  return true;
}

const char* wait_name(Wait w) {
  switch (w) {
    case Wait::kNone: return "running";
    case Wait::kBlockBarrier: return "__syncthreads";
    case Wait::kLaneValue: return "shuffle";
    case Wait::kAllLanes: return "warp barrier";
    case Wait::kRingRoom: return "shuffle ring";
  }
  return "?";
}

void block_until(Wait kind, uint64_t gen, int lane = 0) {
  ThreadRun* t = me();
  t->wait = kind;
  t->wait_gen = gen;
  t->wait_lane = lane;
  if (can_run(*my_block(), *t)) {
    t->wait = Wait::kNone;
    return;
  }
  t->sink = std::move(t->sink).resume();
}

void thread_exit(ThreadRun& t) {
  BlockRun& b = *static_cast<BlockRun*>(t.block);
  t.done = true;
  --b.live;
  WarpSync& w = b.warps[static_cast<size_t>(t.warp)];
  w.live &= ~(1u << t.lane);
  --w.n_live;
  if (b.bar_arrived > 0 && b.bar_arrived == b.live) {
    b.bar_arrived = 0;
    ++b.bar_gen;
  }
}

void run_block(const char* kernel, const dim3& grid, const dim3& bdim, uint3 bid, const std::function<void()>& body,
               size_t smem) {
  BlockRun b;
  b.kernel = kernel;
  b.bid = bid;
  b.bdim = bdim;
  b.gdim = grid;
  const int n = static_cast<int>(bdim.x * bdim.y * bdim.z);
  b.live = n;
  b.threads.resize(static_cast<size_t>(n));
  b.warps.reset(new WarpSync[static_cast<size_t>((n + 31) / 32)]);
  // Dynamic shared memory starts as NaN bytes, so that reading what no thread wrote shows.
  if (dyn_smem_buf.cap < smem + kSmemTail) {
    std::free(dyn_smem_buf.p);
    dyn_smem_buf.cap = (smem + kSmemTail + 255) & ~size_t{255};
    dyn_smem_buf.p = static_cast<unsigned char*>(std::aligned_alloc(256, dyn_smem_buf.cap));
  }
  std::memset(dyn_smem_buf.p, 0xFF, smem + kSmemTail);
  for (int i = 0; i < n; ++i) {
    ThreadRun& t = b.threads[static_cast<size_t>(i)];
    t.tid = uint3{static_cast<unsigned>(i) % bdim.x, (static_cast<unsigned>(i) / bdim.x) % bdim.y,
                  static_cast<unsigned>(i) / (bdim.x * bdim.y)};
    t.linear = i;
    t.lane = i % 32;
    t.warp = i / 32;
    t.block = &b;
    b.warps[static_cast<size_t>(t.warp)].live |= 1u << t.lane;
    ++b.warps[static_cast<size_t>(t.warp)].n_live;
    t.fib = ctx::fiber(std::allocator_arg, PooledStack{}, [&t, &body](ctx::fiber&& sink) {
      t.sink = std::move(sink);
      body();
      thread_exit(t);
      return std::move(t.sink);
    });
  }
  // Each warp runs until none of its lanes can go on (warps meet only at __syncthreads); a warp
  // whose running lanes all wait at the block's barrier is not polled. Odd blocks run warps and
  // lanes in reverse order, so a missing barrier shows whichever side reads what the other wrote.
  const int n_warps = (n + 31) / 32;
  const bool reverse = (bid.x + bid.y + bid.z) & 1u;
  int remaining = n;
  while (remaining > 0) {
    bool progress = false;
    for (int wo = 0; wo < n_warps; ++wo) {
      const int wi = reverse ? n_warps - 1 - wo : wo;
      WarpSync& w = b.warps[static_cast<size_t>(wi)];
      for (;;) {
        if (w.n_live == 0 || (w.at_gen == b.bar_gen && w.at_barrier == w.n_live)) break;
        bool swept = false;
        const int lo = 32 * wi, hi = std::min(n, 32 * wi + 32);
        for (int j = lo; j < hi; ++j) {
          ThreadRun& t = b.threads[static_cast<size_t>(reverse ? lo + hi - 1 - j : j)];
          if (t.done || !can_run(b, t)) continue;
          t.wait = Wait::kNone;
          cur = &t;
          t.fib = std::move(t.fib).resume();
          cur = nullptr;
          swept = true;
          if (t.done) --remaining;
        }
        if (!swept) break;
        progress = true;
      }
    }
    if (!progress) {
      std::string where;
      for (const ThreadRun& t : b.threads)
        if (!t.done && where.size() < 400)
          where += " t" + std::to_string(t.linear) + ":" + wait_name(t.wait) +
                   (t.wait == Wait::kLaneValue ? "(lane " + std::to_string(t.wait_lane) + ")" : "");
      fail("%s block (%u,%u,%u): deadlock, threads wait at barriers others never reach:%s", kernel, bid.x, bid.y,
           bid.z, where.c_str());
    }
  }
  for (size_t i = smem; i < smem + kSmemTail; ++i)
    if (dyn_smem_buf.p[i] != 0xFF)
      fail("%s block (%u,%u,%u) wrote past its %zu bytes of dynamic shared memory", kernel, bid.x, bid.y, bid.z, smem);
}

// ---------------------------------------------------------------------------------------------
// Memory.
constexpr size_t kGuard = 256;
struct Alloc {
  size_t size;
  bool device;
};
std::mutex mem_mu;
std::map<uintptr_t, Alloc> allocs;
size_t device_bytes = 0;

size_t memory_limit() {
  static const size_t limit = [] {
    const char* e = std::getenv("ASSAY_CUDA_EMU_MEMORY_MIB");
    return (e && *e ? std::strtoull(e, nullptr, 10) : 4096ull) << 20;
  }();
  return limit;
}

// The allocation p points into (or one past), or nullptr.
const std::pair<const uintptr_t, Alloc>* find_alloc(const void* p) {
  const auto u = reinterpret_cast<uintptr_t>(p);
  auto it = allocs.upper_bound(u);
  if (it == allocs.begin()) return nullptr;
  --it;
  return u <= it->first + it->second.size ? &*it : nullptr;
}

void* alloc_guarded(size_t bytes, bool device) {
  const size_t total = (bytes + kGuard + 255) & ~size_t{255};
  void* p = std::aligned_alloc(256, total);
  if (!p) return nullptr;
  // Fresh memory reads as NaN (0xFF bytes), as the guard zone does.
  std::memset(p, 0xFF, total);
  std::lock_guard lock(mem_mu);
  allocs[reinterpret_cast<uintptr_t>(p)] = Alloc{bytes, device};
  if (device) device_bytes += bytes;
  return p;
}

cudaError_t free_guarded(void* p, bool device) {
  if (!p) return cudaSuccess;
  std::lock_guard lock(mem_mu);
  auto it = allocs.find(reinterpret_cast<uintptr_t>(p));
  if (it == allocs.end() || it->second.device != device) return cudaErrorInvalidValue;
  if (device) device_bytes -= it->second.size;
  allocs.erase(it);
  std::free(p);
  return cudaSuccess;
}

void check_guards(const char* after) {
  static const std::vector<unsigned char> ff(kGuard, 0xFF);
  std::lock_guard lock(mem_mu);
  for (const auto& [base, a] : allocs) {
    const auto* g = reinterpret_cast<const unsigned char*>(base + a.size);
    if (std::memcmp(g, ff.data(), kGuard) != 0) {
      size_t at = 0;
      while (g[at] == 0xFF) ++at;
      fail("%s wrote past the end of a %s allocation of %zu bytes (at byte %zu after its end)", after,
           a.device ? "device" : "pinned host", a.size, at);
    }
  }
}

// The allocation holding `bytes` from p, or nullptr.
const Alloc* holding(const void* p, size_t bytes) {
  std::lock_guard lock(mem_mu);
  const auto* a = find_alloc(p);
  return a && reinterpret_cast<uintptr_t>(p) + bytes <= a->first + a->second.size ? &a->second : nullptr;
}
// `bytes` from p lie in one allocation (device memory, or pinned host memory where allowed).
bool in_alloc(const void* p, size_t bytes, bool pinned_ok) {
  const Alloc* a = holding(p, bytes);
  return a && (a->device || pinned_ok);
}
// n bytes at p in one pinned host allocation (cudaMallocHost).
bool is_pinned(const void* p, size_t n) {
  const Alloc* a = holding(p, n);
  return a && !a->device;
}

thread_local cudaError_t last_error = cudaSuccess;
cudaError_t set_error(cudaError_t e) {
  if (e != cudaSuccess) last_error = e;
  return e;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Streams, graphs, events.
struct Node {
  const char* what;
  std::function<void()> run;
};
struct GraphState {
  std::vector<Node> nodes;
};
struct StreamState {
  unsigned flags = 0;
  bool capturing = false;
  bool invalidated = false;
  std::thread::id capture_thread;
  GraphState* graph = nullptr;
  std::deque<std::pair<uint64_t, Node>> queue;  // queued work, by sequence number
  uint64_t next_seq = 0;
};
struct EventState {
  std::chrono::steady_clock::time_point t{};
  bool captured = false;
  StreamState* stream = nullptr;  // where it was last recorded (outside a capture), and after what
  uint64_t seq = 0;
};
struct BlasState {
  cudaStream_t stream = nullptr;
};

namespace {
StreamState legacy_stream;
std::mutex streams_mu;
std::vector<StreamState*> capturing_streams;
// Work is queued per stream and runs only when the host waits for it (stream, event or device
// synchronisation, a synchronous copy, cudaFree), in stream order: so a read-back or a reuse of
// a buffer the host did not wait for sees what a GPU still running behind it might.
std::recursive_mutex queue_mu;
std::set<StreamState*> all_streams = {&legacy_stream};

StreamState* resolve(cudaStream_t s) { return s ? s : &legacy_stream; }

void drain(StreamState* st, uint64_t upto = UINT64_MAX) {
  std::lock_guard lock(queue_mu);
  while (!st->queue.empty() && st->queue.front().first <= upto) {
    Node n = std::move(st->queue.front().second);
    st->queue.pop_front();
    n.run();
    check_guards(n.what);
  }
}
// What the legacy stream waits for: itself and every blocking stream (not cudaStreamNonBlocking).
void drain_legacy() {
  std::lock_guard lock(queue_mu);
  for (StreamState* st : all_streams)
    if (st == &legacy_stream || !(st->flags & cudaStreamNonBlocking)) drain(st);
}
void drain_all() {
  std::lock_guard lock(queue_mu);
  for (StreamState* st : all_streams) drain(st);
}

// Queues `fn` on the stream, or records it if the stream is being captured.
cudaError_t enqueue(cudaStream_t s, const char* what, std::function<void()> fn) {
  StreamState* st = resolve(s);
  if (st->capturing) {
    if (st->invalidated) return cudaErrorStreamCaptureInvalidated;
    st->graph->nodes.push_back(Node{what, std::move(fn)});
    return cudaSuccess;
  }
  std::lock_guard lock(queue_mu);
  st->queue.emplace_back(++st->next_seq, Node{what, std::move(fn)});
  return cudaSuccess;
}

// An API call that may not run while this thread captures a stream (cudaMalloc, synchronous
// copies, waits): like the runtime, refuse it and invalidate the capture.
bool prohibited_in_capture() {
  std::lock_guard lock(streams_mu);
  bool hit = false;
  for (StreamState* s : capturing_streams)
    if (s->capture_thread == std::this_thread::get_id()) {
      s->invalidated = true;
      hit = true;
    }
  return hit;
}
}  // namespace

void syncthreads() {
  BlockRun* b = my_block();
  const uint64_t g = b->bar_gen;
  if (++b->bar_arrived == b->live) {
    b->bar_arrived = 0;
    ++b->bar_gen;
    return;
  }
  WarpSync& w = b->warps[static_cast<size_t>(cur->warp)];
  if (w.at_gen != g) {
    w.at_gen = g;
    w.at_barrier = 0;
  }
  ++w.at_barrier;
  block_until(Wait::kBlockBarrier, g);
}

namespace {
// Deposits this lane's value for its next collective; returns the collective's index.
uint64_t deposit(WarpSync& w, ThreadRun* t, unsigned mask, uint64_t v) {
  const uint64_t k = w.completed[t->lane];
  if (k >= w.room_floor + kRing) {  // the slot's last reader may not be done: look again
    w.room_floor = min_live(w, w.completed);
    if (k >= w.room_floor + kRing) block_until(Wait::kRingRoom, k);
  }
  w.val[k % kRing][t->lane] = v;
  w.msk[k % kRing][t->lane] = mask;
  w.deposited[t->lane] = k + 1;
  return k;
}
}  // namespace

uint64_t warp_exchange(unsigned mask, uint64_t v, int src) {
  ThreadRun* t = me();
  BlockRun* b = my_block();
  WarpSync& w = b->warps[static_cast<size_t>(t->warp)];
  if (!((mask >> t->lane) & 1u)) fail("%s: lane %d calls a shuffle whose mask 0x%x leaves it out", b->kernel, t->lane, mask);
  if (src < 0 || src >= 32 || !((mask >> src) & 1u))
    fail("%s: lane %d reads lane %d, which its mask 0x%x leaves out", b->kernel, t->lane, src, mask);
  const uint64_t k = deposit(w, t, mask, v);
  if (w.deposited[src] <= k) block_until(Wait::kLaneValue, k, src);
  if (w.msk[k % kRing][src] != mask)
    fail("%s: lane %d's warp collective %llu has mask 0x%x, lane %d's 0x%x", b->kernel, t->lane,
         static_cast<unsigned long long>(k), mask, src, w.msk[k % kRing][src]);
  const uint64_t r = w.val[k % kRing][src];
  w.completed[t->lane] = k + 1;
  return r;
}

void warp_barrier() {
  ThreadRun* t = me();
  WarpSync& w = my_block()->warps[static_cast<size_t>(t->warp)];
  const uint64_t k = deposit(w, t, ~0u, 0);
  block_until(Wait::kAllLanes, k);
  w.completed[t->lane] = k + 1;
}

bool warp_first(void** scratch, size_t bytes) {
  ThreadRun* t = me();
  WarpSync& w = my_block()->warps[static_cast<size_t>(t->warp)];
  warp_barrier();
  const uint64_t k = w.completed[t->lane] - 1;
  if (w.scratch.size() < bytes) w.scratch.resize(bytes);
  *scratch = w.scratch.data();
  if (w.claimed == k + 1) return false;
  w.claimed = k + 1;
  return true;
}

unsigned char* dynamic_smem() {
  return dyn_smem_buf.p;
}

namespace {
std::mutex attr_mu;
std::map<std::string, int> max_dyn_smem;  // by the kernel's name in its launches
constexpr int kDefaultSmem = 48 << 10;
constexpr int kOptinSmem = 227 << 10;
}  // namespace

cudaError_t set_func_attribute(const char* fn, cudaFuncAttribute a, int v) {
  if (a == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (v < 0 || v > kOptinSmem) return set_error(cudaErrorInvalidValue);
    std::lock_guard lock(attr_mu);
    max_dyn_smem[fn] = v;
  }
  return cudaSuccess;
}

void submit_kernel(const char* name, const LaunchCfg& cfg, const PtrArg* ptrs, int n_ptrs, std::function<void()> body) {
  const dim3 g = cfg.grid, bl = cfg.block;
  const unsigned long long threads = 1ull * bl.x * bl.y * bl.z;
  if (g.x == 0 || g.y == 0 || g.z == 0 || g.x > 0x7FFFFFFFu || g.y > 65535 || g.z > 65535 || threads == 0 ||
      threads > 1024 || bl.x > 1024 || bl.y > 1024 || bl.z > 64) {
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  int smem_max = kDefaultSmem;
  {
    std::lock_guard lock(attr_mu);
    if (auto it = max_dyn_smem.find(name); it != max_dyn_smem.end()) smem_max = std::max(smem_max, it->second);
  }
  if (cfg.smem > static_cast<size_t>(smem_max)) {
    set_error(cudaErrorInvalidValue);
    return;
  }
  for (int i = 0; i < n_ptrs; ++i)
    if (ptrs[i].p && !in_alloc(ptrs[i].p, 0, true))
      fail("%s: argument %d (%p) is not device memory", name, ptrs[i].index, ptrs[i].p);
  const size_t smem = cfg.smem;
  const cudaError_t e = enqueue(cfg.stream, name, [name, g, bl, smem, body = std::move(body)]() {
    const size_t n_blocks = 1ull * g.x * g.y * g.z;
    auto one = [&](size_t i) {
      const uint3 bid{static_cast<unsigned>(i % g.x), static_cast<unsigned>((i / g.x) % g.y),
                      static_cast<unsigned>(i / (1ull * g.x * g.y))};
      run_block(name, g, bl, bid, body, smem);
    };
    if (n_blocks == 1) {
      one(0);
    } else {
      tbb::parallel_for(tbb::blocked_range<size_t>(0, n_blocks), [&](const tbb::blocked_range<size_t>& r) {
        for (size_t i = r.begin(); i != r.end(); ++i) one(i);
      });
    }
  });
  set_error(e);
}

}  // namespace emu

using namespace emu;

// -------------------------------------------------------------------------------------------------
// Device.
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : set_error(cudaErrorInvalidValue); }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  if (d != 0) return set_error(cudaErrorInvalidValue);
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "cuda-emu");
  p->totalGlobalMem = memory_limit();
  p->sharedMemPerBlock = kDefaultSmem;
  p->sharedMemPerBlockOptin = kOptinSmem;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 8;
  p->maxThreadsPerBlock = 1024;
  p->warpSize = 32;
  p->l2CacheSize = 50 << 20;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  if (prohibited_in_capture()) return set_error(cudaErrorStreamCaptureUnsupported);
  drain_all();
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return last_error; }
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureWrongThread: return "attempt to terminate a thread-local capture sequence from another thread";
    case cudaErrorGraphExecUpdateFailure: return "the graph update was not performed because it included changes which violated constraints specific to instantiated graph update";
  }
  return "unknown error";
}
cudaError_t cudaMemGetInfo(size_t* free_b, size_t* total_b) {
  std::lock_guard lock(mem_mu);
  *total_b = memory_limit();
  *free_b = memory_limit() - std::min(memory_limit(), device_bytes);
  return cudaSuccess;
}

// -------------------------------------------------------------------------------------------------
// Memory.
cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = nullptr;
  if (prohibited_in_capture()) return set_error(cudaErrorStreamCaptureUnsupported);
  {
    std::lock_guard lock(mem_mu);
    if (device_bytes + bytes > memory_limit()) return set_error(cudaErrorMemoryAllocation);
  }
  *p = alloc_guarded(bytes, true);
  return *p ? cudaSuccess : set_error(cudaErrorMemoryAllocation);
}
cudaError_t cudaFree(void* p) {
  if (prohibited_in_capture()) return set_error(cudaErrorStreamCaptureUnsupported);
  drain_all();  // cudaFree waits for the device
  return set_error(free_guarded(p, true));
}
cudaError_t cudaMallocHost(void** p, size_t bytes) {
  *p = nullptr;
  if (prohibited_in_capture()) return set_error(cudaErrorStreamCaptureUnsupported);
  *p = alloc_guarded(bytes, false);
  return *p ? cudaSuccess : set_error(cudaErrorMemoryAllocation);
}
cudaError_t cudaFreeHost(void* p) {
  if (prohibited_in_capture()) return set_error(cudaErrorStreamCaptureUnsupported);
  drain_all();
  return set_error(free_guarded(p, false));
}

namespace {
// The device side of a copy must be device memory (or pinned host memory, which the device
// reaches), with all n bytes inside one allocation.
cudaError_t check_copy(void* dst, const void* src, size_t n, cudaMemcpyKind k) {
  const bool dst_dev = k == cudaMemcpyHostToDevice || k == cudaMemcpyDeviceToDevice;
  const bool src_dev = k == cudaMemcpyDeviceToHost || k == cudaMemcpyDeviceToDevice;
  if (dst_dev && !in_alloc(dst, n, true)) fail("cudaMemcpy: %zu bytes to %p: not inside a device allocation", n, dst);
  if (src_dev && !in_alloc(src, n, true)) fail("cudaMemcpy: %zu bytes from %p: not inside a device allocation", n, src);
  return cudaSuccess;
}
}  // namespace

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind k) {
  if (prohibited_in_capture()) return set_error(cudaErrorStreamCaptureUnsupported);
  drain_legacy();  // a synchronous copy runs on the legacy stream
  check_copy(dst, src, n, k);
  std::memmove(dst, src, n);
  check_guards("cudaMemcpy");
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind k, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  // The runtime's rules for pageable host memory: a copy from it may be staged before the call
  // returns (the source is free to change after), a copy to it returns once done. Pinned memory
  // is read and written when the copy runs.
  if (k == cudaMemcpyHostToDevice && !is_pinned(src, n)) {
    auto staged = std::make_shared<std::vector<unsigned char>>(static_cast<const unsigned char*>(src),
                                                                static_cast<const unsigned char*>(src) + n);
    return set_error(enqueue(s, "cudaMemcpyAsync", [dst, staged, n, k] {
      check_copy(dst, staged->data(), n, k);
      std::memcpy(dst, staged->data(), n);
    }));
  }
  // Checked when the copy runs, as the device faults then: a dropped recording never runs.
  const cudaError_t e = enqueue(s, "cudaMemcpyAsync", [dst, src, n, k] {
    check_copy(dst, src, n, k);
    std::memmove(dst, src, n);
  });
  if (e == cudaSuccess && k == cudaMemcpyDeviceToHost && !is_pinned(dst, n) && !resolve(s)->capturing)
    drain(resolve(s));
  return set_error(e);
}
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind k, cudaStream_t s) {
  if (width == 0 || height == 0) return cudaSuccess;
  if (width > dpitch || width > spitch) return set_error(cudaErrorInvalidValue);
  const size_t dspan = dpitch * (height - 1) + width, sspan = spitch * (height - 1) + width;
  return set_error(enqueue(s, "cudaMemcpy2DAsync", [=] {
    if ((k == cudaMemcpyHostToDevice || k == cudaMemcpyDeviceToDevice) && !in_alloc(dst, dspan, true))
      fail("cudaMemcpy2DAsync: destination rows leave their allocation");
    if ((k == cudaMemcpyDeviceToHost || k == cudaMemcpyDeviceToDevice) && !in_alloc(src, sspan, true))
      fail("cudaMemcpy2DAsync: source rows leave their allocation");
    for (size_t r = 0; r < height; ++r)
      std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  }));
}
cudaError_t cudaMemset(void* p, int v, size_t n) {
  if (prohibited_in_capture()) return set_error(cudaErrorStreamCaptureUnsupported);
  drain_legacy();
  if (n && !in_alloc(p, n, false)) fail("cudaMemset: %zu bytes at %p: not inside a device allocation", n, p);
  std::memset(p, v, n);
  check_guards("cudaMemset");
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  return set_error(enqueue(s, "cudaMemsetAsync", [p, v, n] {
    if (!in_alloc(p, n, false)) fail("cudaMemsetAsync: %zu bytes at %p: not inside a device allocation", n, p);
    std::memset(p, v, n);
  }));
}

// -------------------------------------------------------------------------------------------------
// Streams and capture.
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  *s = new StreamState{};
  (*s)->flags = flags;
  std::lock_guard lock(queue_mu);
  all_streams.insert(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (!s) return set_error(cudaErrorInvalidResourceHandle);
  if (s->capturing) return set_error(cudaErrorStreamCaptureUnsupported);
  drain(s);  // its work completes first
  std::lock_guard lock(queue_mu);
  all_streams.erase(s);
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  StreamState* st = resolve(s);
  if (st->capturing) {
    st->invalidated = true;
    return set_error(cudaErrorStreamCaptureUnsupported);
  }
  if (st == &legacy_stream) {
    drain_legacy();
  } else {
    drain(st);
  }
  return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
  if (!s) return set_error(cudaErrorStreamCaptureUnsupported);  // not the legacy stream
  if (s->capturing) return set_error(cudaErrorInvalidValue);
  s->capturing = true;
  s->invalidated = false;
  s->capture_thread = std::this_thread::get_id();
  s->graph = new GraphState{};
  std::lock_guard lock(streams_mu);
  capturing_streams.push_back(s);
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  *g = nullptr;
  if (!s || !s->capturing) return set_error(cudaErrorInvalidValue);
  if (s->capture_thread != std::this_thread::get_id()) return set_error(cudaErrorStreamCaptureWrongThread);
  {
    std::lock_guard lock(streams_mu);
    capturing_streams.erase(std::find(capturing_streams.begin(), capturing_streams.end(), s));
  }
  s->capturing = false;
  if (s->invalidated) {
    delete s->graph;
    s->graph = nullptr;
    return set_error(cudaErrorStreamCaptureInvalidated);
  }
  *g = s->graph;
  s->graph = nullptr;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t g, unsigned long long) {
  if (!g) return set_error(cudaErrorInvalidValue);
  *exec = new GraphState(*g);
  return cudaSuccess;
}
// As the runtime: the update keeps the executable graph only if the new recording has its
// topology (here: the same sequence of node kinds); kernels' arguments and copies' operands may
// change.
cudaError_t cudaGraphExecUpdate(cudaGraphExec_t exec, cudaGraph_t g, cudaGraphExecUpdateResultInfo* info) {
  if (!exec || !g) return set_error(cudaErrorInvalidValue);
  bool same = exec->nodes.size() == g->nodes.size();
  for (size_t i = 0; same && i < g->nodes.size(); ++i) same = std::strcmp(exec->nodes[i].what, g->nodes[i].what) == 0;
  if (info) *info = cudaGraphExecUpdateResultInfo{same ? 0 : 1, nullptr, nullptr};
  if (!same) return set_error(cudaErrorGraphExecUpdateFailure);
  exec->nodes = g->nodes;
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
  if (!exec) return set_error(cudaErrorInvalidValue);
  if (resolve(s)->capturing) return set_error(cudaErrorStreamCaptureUnsupported);
  // The nodes as they are now: a later cudaGraphExecUpdate does not change a queued launch.
  for (const Node& n : exec->nodes) enqueue(s, n.what, n.run);
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t g) {
  delete g;
  return cudaSuccess;
}

// -------------------------------------------------------------------------------------------------
// Events.
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  *e = new EventState{};
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (!e) return set_error(cudaErrorInvalidResourceHandle);
  StreamState* st = resolve(s);
  e->captured = st->capturing;
  const cudaError_t r = enqueue(s, "cudaEventRecord", [e] { e->t = std::chrono::steady_clock::now(); });
  if (!st->capturing) {
    std::lock_guard lock(queue_mu);
    e->stream = st;
    e->seq = st->next_seq;
  }
  return set_error(r);
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!e) return set_error(cudaErrorInvalidResourceHandle);
  if (e->captured && prohibited_in_capture()) return set_error(cudaErrorStreamCaptureUnsupported);
  if (e->stream) drain(e->stream, e->seq);
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  *ms = std::chrono::duration<float, std::milli>(b->t - a->t).count();
  return cudaSuccess;
}

// -------------------------------------------------------------------------------------------------
// cuBLAS.
cublasStatus_t cublasCreate(cublasHandle_t* h) {
  if (prohibited_in_capture()) return CUBLAS_STATUS_NOT_INITIALIZED;
  *h = new BlasState{};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
  h->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
const char* cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "unknown cuBLAS status";
}

namespace {
size_t type_size(cudaDataType t) { return t == CUDA_R_32F ? 4 : 2; }
float load_as_float(const void* p, cudaDataType t, size_t i) {
  switch (t) {
    case CUDA_R_32F: return static_cast<const float*>(p)[i];
    case CUDA_R_16F: return __half2float(static_cast<const __half*>(p)[i]);
    case CUDA_R_16BF: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
  }
  return NAN;
}
void store_float(void* p, cudaDataType t, size_t i, float v) {
  switch (t) {
    case CUDA_R_32F: static_cast<float*>(p)[i] = v; break;
    case CUDA_R_16F: static_cast<__half*>(p)[i] = __float2half_rn(v); break;
    case CUDA_R_16BF: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v); break;
  }
}

struct Gemm {
  cublasOperation_t ta, tb;
  int m, n, k;
  float alpha, beta;
  const void* a;
  cudaDataType at;
  int lda;
  long long sa;
  const void* b;
  cudaDataType bt;
  int ldb;
  long long sb;
  void* c;
  cudaDataType ct;
  int ldc;
  long long sc;
  int batch;
};

// C = alpha op(A) op(B) + beta C, column-major; beta == 0 does not read C (as cuBLAS).
void run_gemm(const Gemm& g) {
  std::vector<float> ar(static_cast<size_t>(g.m) * g.k), br(static_cast<size_t>(g.n) * g.k);
  for (int bi = 0; bi < g.batch; ++bi) {
    const size_t oa = static_cast<size_t>(bi * g.sa), ob = static_cast<size_t>(bi * g.sb),
                 oc = static_cast<size_t>(bi * g.sc);
    for (int i = 0; i < g.m; ++i)
      for (int l = 0; l < g.k; ++l)
        ar[static_cast<size_t>(i) * g.k + l] =
            load_as_float(g.a, g.at, oa + (g.ta == CUBLAS_OP_N ? i + static_cast<size_t>(l) * g.lda : l + static_cast<size_t>(i) * g.lda));
    for (int j = 0; j < g.n; ++j)
      for (int l = 0; l < g.k; ++l)
        br[static_cast<size_t>(j) * g.k + l] =
            load_as_float(g.b, g.bt, ob + (g.tb == CUBLAS_OP_N ? l + static_cast<size_t>(j) * g.ldb : j + static_cast<size_t>(l) * g.ldb));
    tbb::parallel_for(0, g.n, [&](int j) {
      const float* bj = &br[static_cast<size_t>(j) * g.k];
      for (int i = 0; i < g.m; ++i) {
        const float* ai = &ar[static_cast<size_t>(i) * g.k];
        float s[8] = {};
        int l = 0;
        for (; l + 8 <= g.k; l += 8)
          for (int u = 0; u < 8; ++u) s[u] += ai[l + u] * bj[l + u];
        for (; l < g.k; ++l) s[0] += ai[l] * bj[l];
        const float dot = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
        const size_t ci = oc + i + static_cast<size_t>(j) * g.ldc;
        const float v = g.alpha * dot + (g.beta != 0.0f ? g.beta * load_as_float(g.c, g.ct, ci) : 0.0f);
        store_float(g.c, g.ct, ci, v);
      }
    });
  }
}

// The elements a column-major operand spans, and that they lie in one device allocation.
void check_operand(const char* what, const void* p, cudaDataType t, int rows, int cols, int ld, long long stride,
                   int batch) {
  if (rows <= 0 || cols <= 0) return;
  if (ld < rows) fail("%s: leading dimension %d below its %d rows", what, ld, rows);
  const size_t elems = static_cast<size_t>(rows) + static_cast<size_t>(cols - 1) * ld +
                       static_cast<size_t>(batch - 1) * static_cast<size_t>(stride);
  if (!in_alloc(p, elems * type_size(t), false))
    fail("%s: a %dx%d operand (ld %d, %d batches of stride %lld) at %p leaves its device allocation", what, rows, cols,
         ld, batch, stride, p);
}

cublasStatus_t submit_gemm(cublasHandle_t h, const char* what, const Gemm& g) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (g.m == 0 || g.n == 0 || g.batch == 0) return CUBLAS_STATUS_SUCCESS;
  const bool an = g.ta == CUBLAS_OP_N, bn = g.tb == CUBLAS_OP_N;
  if (g.k > 0) {
    check_operand(what, g.a, g.at, an ? g.m : g.k, an ? g.k : g.m, g.lda, g.sa, g.batch);
    check_operand(what, g.b, g.bt, bn ? g.k : g.n, bn ? g.n : g.k, g.ldb, g.sb, g.batch);
  }
  check_operand(what, g.c, g.ct, g.m, g.n, g.ldc, g.sc, g.batch);
  const cudaError_t e = enqueue(h->stream, what, [g] { run_gemm(g); });
  return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}
}  // namespace

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float* alpha, const float* a, int lda, const float* b, int ldb, const float* beta,
                           float* c, int ldc) {
  return submit_gemm(h, "cublasSgemm",
                     Gemm{ta, tb, m, n, k, *alpha, *beta, a, CUDA_R_32F, lda, 0, b, CUDA_R_32F, ldb, 0, c, CUDA_R_32F,
                          ldc, 0, 1});
}
cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void* alpha, const void* a, cudaDataType at, int lda, const void* b,
                            cudaDataType bt, int ldb, const void* beta, void* c, cudaDataType ct, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t) {
  if (compute != CUBLAS_COMPUTE_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  return submit_gemm(h, "cublasGemmEx",
                     Gemm{ta, tb, m, n, k, *static_cast<const float*>(alpha), *static_cast<const float*>(beta), a, at,
                          lda, 0, b, bt, ldb, 0, c, ct, ldc, 0, 1});
}
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void* alpha, const void* a, cudaDataType at, int lda,
                                          long long sa, const void* b, cudaDataType bt, int ldb, long long sb,
                                          const void* beta, void* c, cudaDataType ct, int ldc, long long sc,
                                          int batch, cublasComputeType_t compute, cublasGemmAlgo_t) {
  if (compute != CUBLAS_COMPUTE_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  return submit_gemm(h, "cublasGemmStridedBatchedEx",
                     Gemm{ta, tb, m, n, k, *static_cast<const float*>(alpha), *static_cast<const float*>(beta), a, at,
                          lda, sa, b, bt, ldb, sb, c, ct, ldc, sc, batch});
}
