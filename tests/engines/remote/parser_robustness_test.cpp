// Random mutations of real response bodies must give a value or a Status, never a crash (run
// under ASAN_SANITIZE builds to catch memory errors). Seeded, bounded in count.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engines/remote/anthropic_api.h"
#include "engines/remote/api_error.h"
#include "engines/remote/openai_api.h"
#include "engines/remote/retry_policy.h"
#include "engines/remote/sse_parser.h"

namespace assay {
namespace {

const std::vector<std::string> kSeeds = {
    R"({"id":"c","choices":[{"text":"The cat sat","index":0,"finish_reason":"length","logprobs":{"tokens":["The"," cat"," sat"],"token_logprobs":[null,-1.5,-0.5],"top_logprobs":[null,{" cat":-1.5},{" sat":-0.5}],"text_offset":[0,3,7]}}],"usage":{"prompt_tokens":2,"completion_tokens":1}})",
    R"({"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":12}})",
    R"({"content":[{"text":"Hi","type":"text"}],"id":"msg_1","stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}})",
    R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded","details":{"error_code":"x"}}})",
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\r\n\r\n: ping\rdata: [DONE]\n\n",
};

std::string mutate(std::string s, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    const size_t pos = rng() % s.size();
    switch (rng() % 4) {
      case 0: s[pos] = static_cast<char>(rng() % 256); break;
      case 1: s.erase(pos, 1 + rng() % 8); break;
      case 2: s.insert(pos, 1, "{}[]\",:0-\n\r"[rng() % 11]); break;
      case 3: s.resize(pos); break;
    }
  }
  return s;
}

TEST(ParserRobustness, MutatedBodiesNeverCrash) {
  std::mt19937_64 rng(20261127);
  int parsed_ok = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    const std::string body = mutate(kSeeds[iter % kSeeds.size()], rng);
    auto a = parse_openai_completion_response(body);
    if (a.ok()) {
      ++parsed_ok;
      for (const auto& c : a->choices) {
        if (c.logprobs) (void)score_echo_logprobs(*c.logprobs, static_cast<int64_t>(rng() % 12), 1).ok();
      }
    }
    parsed_ok += parse_openai_chat_response(body).ok();
    parsed_ok += parse_anthropic_response(body).ok();
    (void)api_error_status("x", 400 + static_cast<int>(rng() % 200), body);
    (void)is_quota_error_body(body);
    SseParser p;
    std::vector<SseEvent> events;
    (void)p.feed(body, events);
    OpenAiStreamAccumulator oa;
    AnthropicStreamAccumulator an;
    for (const auto& e : events) {
      (void)oa.on_event(e);
      (void)an.on_event(e);
    }
    (void)oa.finish();
    (void)an.finish();
  }
  EXPECT_GT(parsed_ok, 0);  // some mutations stay valid: the parsers were exercised past the error path
}

}  // namespace
}  // namespace assay
