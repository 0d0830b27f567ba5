// EngineWorker: the one thread that touches the LocalModel. HTTP handlers hand it jobs and wait;
// it takes every job pending at that moment and runs their generate requests as one
// generate_until call and their scoring items as one score_tokens call, so concurrent clients
// share forward passes (the engine batches decode steps and shares prompt prefixes).
//
// A job has three phases, all on the worker: prepare (tokenize; fills `generate` / `score`),
// the batched engine calls (fill `generated` / `scored`, one result per request, in order),
// and finish (per-job follow-up such as full-vocabulary logits for top_logprobs).
//
// Thread safety: run() may be called from any number of threads. stop() finishes every job
// already queued, then refuses new ones (run() returns false).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "engines/local/local_model.h"

namespace assay::serve {

struct EngineJob {
  std::function<void(LocalModel&, EngineJob&)> prepare;
  std::vector<GenerateRequest> generate;
  std::vector<TokenScoreItem> score;
  std::vector<Result<GenerateResponse>> generated;
  std::vector<Result<TokenScore>> scored;
  std::function<void(LocalModel&, EngineJob&)> finish;
  // Streaming: text so far of generate[index] after each token (LocalModel::TextCallback), on
  // the worker's thread while the batch runs; keep it cheap.
  std::function<void(size_t index, const std::string& text)> on_text;
};

class EngineWorker {
 public:
  explicit EngineWorker(LocalModel& model);
  ~EngineWorker();  // stop() and join
  EngineWorker(const EngineWorker&) = delete;
  EngineWorker& operator=(const EngineWorker&) = delete;

  // Runs the job on the worker and blocks until it is done. False when the worker has stopped
  // (the job did not run).
  bool run(EngineJob& job);
  void stop();

  // For tests and logs: engine rounds run, and the most jobs one round has carried.
  int64_t rounds() const;
  int64_t max_jobs_per_round() const;

 private:
  struct Pending {
    EngineJob* job;
    bool done = false;
  };
  void loop();

  LocalModel& model_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // the worker waits for work
  std::condition_variable done_cv_;  // callers wait for their job
  std::deque<Pending*> queue_;
  bool stopping_ = false;
  int64_t rounds_ = 0;
  int64_t max_jobs_ = 0;
  std::thread thread_;
};

}  // namespace assay::serve
