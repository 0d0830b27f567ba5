// A listening TCP socket on 127.0.0.1 at a free port, for the loopback test servers.
#pragma once

namespace assay::testing {

// Returns the listening fd (aborts on failure) and sets *port.
int listen_loopback(int backlog, int* port);

}  // namespace assay::testing
