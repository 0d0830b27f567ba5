#include "engines/local/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace assay {

Result<ReadOnlyMap> map_file_readonly(const std::string& path, size_t min_size,
                                      std::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": cannot open: " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error(path + ": not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < min_size) {
    ::close(fd);
    return corrupt(path + ": file is " + std::to_string(size) + " bytes, too short for " +
                   std::string(what));
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  const int e = errno;
  ::close(fd);
  if (map == MAP_FAILED) return io_error(path + ": mmap failed: " + std::strerror(e));
  return ReadOnlyMap{map, size};
}

}  // namespace assay
