#include "parallel/comm/communicator.h"

namespace attn {

void LocalComm::broadcast(Tensor&, int root) {
  ATTN_CHECK(root == 0, "broadcast from rank {} in a world of one", root);
}

}  // namespace attn
