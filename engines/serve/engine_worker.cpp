#include "engines/serve/engine_worker.h"

#include <algorithm>

namespace assay::serve {

EngineWorker::EngineWorker(LocalModel& model) : model_(model) {
  thread_ = std::thread([this] { loop(); });
}

EngineWorker::~EngineWorker() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void EngineWorker::stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  cv_.notify_all();
}

bool EngineWorker::run(EngineJob& job) {
  Pending p{&job};
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return false;
  queue_.push_back(&p);
  cv_.notify_one();
  done_cv_.wait(lock, [&] { return p.done; });
  return true;
}

int64_t EngineWorker::rounds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rounds_;
}

int64_t EngineWorker::max_jobs_per_round() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_jobs_;
}

void EngineWorker::loop() {
  while (true) {
    std::vector<Pending*> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      batch.assign(queue_.begin(), queue_.end());
      queue_.clear();
      ++rounds_;
      max_jobs_ = std::max<int64_t>(max_jobs_, static_cast<int64_t>(batch.size()));
    }
    for (Pending* p : batch) {
      if (p->job->prepare) p->job->prepare(model_, *p->job);
    }
    std::vector<GenerateRequest> gen;
    std::vector<TokenScoreItem> score;
    for (Pending* p : batch) {
      gen.insert(gen.end(), p->job->generate.begin(), p->job->generate.end());
      score.insert(score.end(), p->job->score.begin(), p->job->score.end());
    }
    std::vector<Result<GenerateResponse>> gen_out;
    std::vector<Result<TokenScore>> score_out;
    // Batch index -> (job, index in the job), for jobs that stream.
    std::vector<std::pair<EngineJob*, size_t>> owner;
    bool streaming = false;
    for (Pending* p : batch) {
      for (size_t k = 0; k < p->job->generate.size(); ++k) owner.emplace_back(p->job, k);
      streaming |= static_cast<bool>(p->job->on_text);
    }
    if (streaming) {
      model_.set_text_callback([&owner](size_t i, const std::string& text) {
        if (owner[i].first->on_text) owner[i].first->on_text(owner[i].second, text);
      });
    }
    if (!gen.empty()) gen_out = model_.generate_until(gen);
    if (streaming) model_.set_text_callback(nullptr);
    if (!score.empty()) score_out = model_.score_tokens(score);
    size_t gi = 0, si = 0;
    for (Pending* p : batch) {
      EngineJob& j = *p->job;
      j.generated.assign(std::make_move_iterator(gen_out.begin() + static_cast<std::ptrdiff_t>(gi)),
                         std::make_move_iterator(gen_out.begin() + static_cast<std::ptrdiff_t>(
                                                                       gi + j.generate.size())));
      gi += j.generate.size();
      j.scored.assign(std::make_move_iterator(score_out.begin() + static_cast<std::ptrdiff_t>(si)),
                      std::make_move_iterator(score_out.begin() +
                                              static_cast<std::ptrdiff_t>(si + j.score.size())));
      si += j.score.size();
      if (j.finish) j.finish(model_, j);
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (Pending* p : batch) p->done = true;
    done_cv_.notify_all();
  }
}

}  // namespace assay::serve
