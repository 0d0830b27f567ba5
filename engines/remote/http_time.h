// Time formats that API servers put in headers:
//   - HTTP-date (RFC 9110 §5.6.7) in Retry-After: IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT",
//     and the obsolete RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime
//     "Sun Nov  6 08:49:37 1994" forms that recipients must still accept;
//   - RFC 3339 timestamps in Anthropic's anthropic-ratelimit-*-reset ("2024-05-01T12:00:30Z",
//     fractional seconds and numeric offsets allowed);
//   - Go-style durations in OpenAI's x-ratelimit-reset-* ("20ms", "1s", "6m0s", "1h2m3.5s").
// All are pure functions returning nullopt on anything malformed (callers then fall back to their
// defaults rather than failing a request over a header).
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace assay {

using SystemTime = std::chrono::system_clock::time_point;

std::optional<SystemTime> parse_http_date(std::string_view text);
std::optional<SystemTime> parse_rfc3339(std::string_view text);
// Seconds (non-negative). Also accepts a bare number of seconds ("30", "0.5").
std::optional<double> parse_go_duration(std::string_view text);

}  // namespace assay
