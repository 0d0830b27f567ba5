#include "tests/support/default_model.h"

#include "tests/support/test_env.h"

namespace assay {

std::string test_data_dir() { return testing::data_dir(); }

}  // namespace assay
