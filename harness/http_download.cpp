#include "harness/http_download.h"

#include <curl/curl.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "harness/log.h"
#include "harness/sha256.h"

namespace fs = std::filesystem;

namespace assay {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Sink {
  FILE* f = nullptr;
  CURL* curl = nullptr;
  std::string part;
  int64_t offset = 0;  // bytes present when this attempt started
  int64_t written = 0;
  bool checked_code = false;
  bool restarted = false;
  bool http_error = false;
  const DownloadOptions* opts = nullptr;
};

size_t write_cb(char* data, size_t size, size_t nmemb, void* user) {
  auto* s = static_cast<Sink*>(user);
  size_t n = size * nmemb;
  if (!s->checked_code) {
    s->checked_code = true;
    long code = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 400) {
      s->http_error = true;
      return 0;
    }
    if (s->offset > 0 && code == 200) {
      // The server ignored our Range: start the file over.
      std::fclose(s->f);
      s->f = std::fopen(s->part.c_str(), "wb");
      if (!s->f) return 0;
      s->offset = 0;
      s->restarted = true;
    }
  }
  if (std::fwrite(data, 1, n, s->f) != n) return 0;
  s->written += static_cast<int64_t>(n);
  return n;
}

int progress_cb(void* user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* s = static_cast<Sink*>(user);
  if (s->opts->on_progress) s->opts->on_progress(s->offset + dlnow, dltotal ? s->offset + dltotal : 0);
  return 0;
}

}  // namespace

Result<DownloadResult> download_file(const std::string& url, const std::string& dest,
                                     const DownloadOptions& opts) {
  global_init();
  std::error_code ec;
  fs::path parent = fs::path(dest).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) return io_error("cannot create " + parent.string() + ": " + ec.message());
  const std::string part = dest + ".part";
  DownloadResult result;
  std::string last_error;
  for (int attempt = 1; attempt <= opts.max_attempts; ++attempt) {
    result.attempts = attempt;
    int64_t have = fs::exists(part, ec) ? static_cast<int64_t>(fs::file_size(part, ec)) : 0;
    if (ec) have = 0;
    Sink sink;
    sink.part = part;
    sink.offset = have;
    sink.opts = &opts;
    sink.f = std::fopen(part.c_str(), have > 0 ? "ab" : "wb");
    if (!sink.f) return io_error("cannot write " + part + ": " + std::strerror(errno));
    CURL* curl = curl_easy_init();
    sink.curl = curl;
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, opts.connect_timeout_s);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, opts.low_speed_timeout_s);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "assay-data-pull/1");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &sink);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    // A Range header rather than CURLOPT_RESUME_FROM: curl refuses a 200 answer to the latter,
    // while write_cb restarts the file cleanly when a server ignores the range.
    std::string range = std::to_string(have) + "-";
    if (have > 0) {
      curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
      result.resumed = true;
    }
    CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(curl);
    std::fclose(sink.f);
    if (sink.restarted) result.resumed = false;
    if (sink.http_error || code >= 400) {
      if (code == 416 && have > 0) {
        // Range not satisfiable: what we have is already the whole file.
        rc = CURLE_OK;
      } else {
        if (code >= 500 || code == 429 || code == 408) {
          last_error = "HTTP " + std::to_string(code);
          continue;
        }
        fs::remove(part, ec);
        return not_found(url + ": HTTP " + std::to_string(code));
      }
    }
    if (rc != CURLE_OK) {
      last_error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
      ASSAY_LOG(kWarn) << url << ": " << last_error << " (attempt " << attempt << " of "
                       << opts.max_attempts << ", will resume)";
      continue;
    }
    auto sha = sha256_file(part);
    if (!sha.ok()) return sha.status();
    if (!opts.expected_sha256.empty() && *sha != opts.expected_sha256) {
      fs::remove(part, ec);
      return corrupt(url + ": sha256 mismatch: expected " + opts.expected_sha256 + ", got " + *sha);
    }
    fs::rename(part, dest, ec);
    if (ec) return io_error("cannot rename " + part + " to " + dest + ": " + ec.message());
    result.sha256 = *sha;
    result.bytes = static_cast<int64_t>(fs::file_size(dest, ec));
    return result;
  }
  return unavailable(url + ": download failed after " + std::to_string(opts.max_attempts) +
                     " attempts: " + last_error + " (partial data kept in " + part +
                     "; run again to resume)");
}

}  // namespace assay
