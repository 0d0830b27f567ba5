#include "engines/remote/sse_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace assay {
namespace {

std::vector<SseEvent> parse_all(std::string_view text, Status* st_out = nullptr) {
  SseParser p;
  std::vector<SseEvent> out;
  Status st = p.feed(text, out);
  if (st.ok()) st = p.finish();
  if (st_out) *st_out = st;
  return out;
}

TEST(SseParser, OpenAiStyleDataOnlyStream) {
  const std::string body =
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
      ": keep-alive\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n"
      "data: [DONE]\n\n";
  Status st;
  auto events = parse_all(body, &st);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].data, "{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}");
  EXPECT_FALSE(SseParser::is_done(events[1]));
  EXPECT_TRUE(SseParser::is_done(events[2]));
}

TEST(SseParser, AnthropicNamedEvents) {
  const std::string body =
      "event: message_start\n"
      "data: {\"type\":\"message_start\"}\n\n"
      "event: ping\ndata: {\"type\": \"ping\"}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  auto events = parse_all(body);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event, "message_start");
  EXPECT_EQ(events[1].event, "ping");
  EXPECT_EQ(events[1].data, "{\"type\": \"ping\"}");
  EXPECT_EQ(events[2].event, "message_stop");
}

TEST(SseParser, MultiLineDataJoinsWithNewline) {
  auto events = parse_all("data: a\ndata:b\ndata:  c\ndata\n\n");
  ASSERT_EQ(events.size(), 1u);
  // One space after the colon is stripped, the second one is kept; "data" alone adds "".
  EXPECT_EQ(events[0].data, "a\nb\n c\n");
}

TEST(SseParser, CommentNeverEndsStreamAndEventWithoutDataIsDropped) {
  auto events = parse_all(": ping\n\nevent: lonely\n\n: ping\ndata: x\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "x");
  EXPECT_EQ(events[0].event, "");  // the "lonely" name died with its empty event
}

TEST(SseParser, IdAndRetryFields) {
  auto events = parse_all("id: 7\nretry: 1500\ndata: a\n\ndata: b\n\nid\ndata: c\nretry: 1x\n\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].id, "7");
  ASSERT_TRUE(events[0].retry_ms.has_value());
  EXPECT_EQ(*events[0].retry_ms, 1500);
  EXPECT_EQ(events[1].id, "7");  // the last event id persists
  EXPECT_FALSE(events[1].retry_ms.has_value());
  EXPECT_EQ(events[2].id, "");   // "id" with no value resets it
  EXPECT_FALSE(events[2].retry_ms.has_value());  // not all digits: ignored
}

TEST(SseParser, AllLineEndingsAndBom) {
  const std::string expected_data = "x";
  for (std::string eol : {"\n", "\r\n", "\r"}) {
    std::string body = "\xEF\xBB\xBF" "event: e" + eol + "data: x" + eol + eol + "data: y" + eol + eol;
    Status st;
    auto events = parse_all(body, &st);
    ASSERT_TRUE(st.ok());
    ASSERT_EQ(events.size(), 2u) << "eol size " << eol.size();
    EXPECT_EQ(events[0].event, "e");
    EXPECT_EQ(events[0].data, "x");
    EXPECT_EQ(events[1].data, "y");
  }
}

TEST(SseParser, CrThenLfIsOneLineEndButCrCrIsTwo) {
  // "\r\r" is two line ends: a blank line, which dispatches.
  auto events = parse_all("data: a\r\rdata: b\r\n\r\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "a");
  EXPECT_EQ(events[1].data, "b");
}

// Every split point, and every pair of split points, must give the same events as one feed.
TEST(SseParser, ExhaustiveSplitPoints) {
  const std::string body =
      "\xEF\xBB\xBF: hello\r\n"
      "event: message_start\r\n"
      "data: {\"a\":1}\r\n"
      "\r\n"
      "id: 42\rdata: line1\rdata: line2\r\r"
      ": ping\n"
      "data:nospace\n"
      "retry: 250\n"
      "\n"
      "event: error\ndata: {\"type\":\"error\"}\n\n"
      "data: [DONE]\n\n";
  Status st;
  const auto whole = parse_all(body, &st);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(whole.size(), 5u);
  EXPECT_EQ(whole[1].data, "line1\nline2");
  EXPECT_EQ(whole[1].id, "42");
  EXPECT_EQ(*whole[2].retry_ms, 250);
  EXPECT_EQ(whole[3].event, "error");
  EXPECT_TRUE(SseParser::is_done(whole[4]));

  for (size_t a = 0; a <= body.size(); ++a) {
    for (size_t b = a; b <= body.size(); ++b) {
      SseParser p;
      std::vector<SseEvent> out;
      ASSERT_TRUE(p.feed(std::string_view(body).substr(0, a), out).ok());
      ASSERT_TRUE(p.feed(std::string_view(body).substr(a, b - a), out).ok());
      ASSERT_TRUE(p.feed(std::string_view(body).substr(b), out).ok());
      ASSERT_TRUE(p.finish().ok());
      ASSERT_EQ(out, whole) << "split at " << a << "," << b;
    }
  }
  // Byte at a time, too.
  SseParser p;
  std::vector<SseEvent> out;
  for (char c : body) ASSERT_TRUE(p.feed(std::string_view(&c, 1), out).ok());
  EXPECT_EQ(out, whole);
}

TEST(SseParser, RandomChunkingMatchesWhole) {
  std::mt19937 rng(1234);
  std::string body;
  const char* pieces[] = {"data: ", "x", "\n", "\r", "\r\n", ": c", "event: e", "id: 1", "data:[DONE]"};
  for (int i = 0; i < 400; ++i) body += pieces[rng() % 9];
  body += "\n\n";
  SseParser whole_p;
  std::vector<SseEvent> whole;
  ASSERT_TRUE(whole_p.feed(body, whole).ok());
  ASSERT_FALSE(whole.empty());
  for (int trial = 0; trial < 200; ++trial) {
    SseParser p;
    std::vector<SseEvent> out;
    size_t i = 0;
    while (i < body.size()) {
      size_t n = std::min<size_t>(rng() % 7, body.size() - i);
      ASSERT_TRUE(p.feed(std::string_view(body).substr(i, n), out).ok());
      i += n;
    }
    ASSERT_EQ(out, whole);
  }
}

TEST(SseParser, TruncatedStreamIsReportedAtFinish) {
  Status st;
  auto events = parse_all("data: a\n\ndata: {\"partial", &st);
  EXPECT_EQ(events.size(), 1u);
  EXPECT_EQ(st.code(), StatusCode::kCorrupt);
  parse_all("data: a\n\ndata: b\n", &st);  // line complete but no blank line
  EXPECT_EQ(st.code(), StatusCode::kCorrupt);
  parse_all("data: a\n\n: trailing comment\n", &st);
  EXPECT_TRUE(st.ok());
}

TEST(SseParser, LineLimitIsEnforcedAcrossChunks) {
  SseLimits limits;
  limits.max_line_bytes = 100;
  SseParser p(limits);
  std::vector<SseEvent> out;
  ASSERT_TRUE(p.feed("data: ok\n\n", out).ok());
  std::string big(60, 'x');
  ASSERT_TRUE(p.feed("data: " + big, out).ok());
  Status st = p.feed(big, out);  // 126 bytes without a line end
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(p.feed("\n\n", out).code(), StatusCode::kResourceExhausted);  // stays failed
  EXPECT_EQ(out.size(), 1u);
}

TEST(SseParser, EventLimitIsEnforced) {
  SseLimits limits;
  limits.max_event_bytes = 50;
  SseParser p(limits);
  std::vector<SseEvent> out;
  std::string line = "data: " + std::string(20, 'y') + "\n";
  ASSERT_TRUE(p.feed(line + line, out).ok());
  EXPECT_EQ(p.feed(line, out).code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(out.empty());
}

TEST(SseParser, DefaultLimitIsOneMiB) {
  SseParser p;
  std::vector<SseEvent> out;
  std::string big((size_t{1} << 20) + 10, 'z');
  EXPECT_EQ(p.feed(big, out).code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace assay
