// Small JSON helpers shared by the API payload files (internal to engines/remote).
#pragma once

#include <boost/json.hpp>
#include <cmath>
#include <cstdint>

namespace assay {

// Integral values as int64 so payloads read "temperature": 0, not 0E0 (Boost.JSON's double
// form): both are valid JSON, the former matches lm-eval's payloads byte for byte.
inline boost::json::value json_number(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) {
    return boost::json::value(static_cast<int64_t>(d));
  }
  return boost::json::value(d);
}

}  // namespace assay
