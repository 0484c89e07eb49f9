#include "recipes/procedures/procedure.h"

#include <fmt/format.h>

#include "framework/core/error.h"
#include "recipes/procedures/lm_step.h"

namespace attn {

std::unique_ptr<Procedure> make_procedure(const TrainingParts& parts) {
  switch (parts.recipe.procedure().kind()) {
    case attnlab::config::Procedure::KIND_UNSPECIFIED:
    case attnlab::config::Procedure::NONE:
      return std::make_unique<LmStep>(parts);
    default:
      // Validation refuses the procedures not built yet (framework/config/unbuilt_features.cc).
      throw Error(ErrorKind::kConfig, "procedure.kind",
                  fmt::format("{} is not built yet", attnlab::config::Procedure::Kind_Name(
                                                         parts.recipe.procedure().kind())));
  }
}

}  // namespace attn
