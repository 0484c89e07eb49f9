#include "parallel/comm/world.h"

#include <cstdlib>
#include <exception>
#include <string>

#include "parallel/comm/mpi_comm.h"

namespace attn {

bool started_by_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr;
}

std::unique_ptr<Communicator> make_world_communicator(double timeout_s) {
  if (started_by_mpirun()) return std::make_unique<MpiComm>(timeout_s);
  return std::make_unique<LocalComm>();
}

int run_guarded(Communicator& comm, const std::function<int()>& body) {
  // Alone, nobody can be left waiting: the caller reports the error as usual.
  if (comm.world_size() == 1) return body();
  int code = 1;
  std::string message = "unknown exception";
  try {
    return body();
  } catch (const Error& e) {
    code = e.exit_code();
    message = e.what();
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
  }
  comm.abort(code, message);
  std::abort();  // not reached; GCC does not trust [[noreturn]] on a virtual call
}

}  // namespace attn
