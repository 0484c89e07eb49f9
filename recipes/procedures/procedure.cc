#include "recipes/procedures/procedure.h"

#include <fmt/format.h>

#include "framework/core/error.h"
#include "recipes/procedures/focus_sft.h"
#include "recipes/procedures/lm_step.h"

namespace attn {

std::unique_ptr<Procedure> make_procedure(const TrainingParts& parts) {
  switch (parts.recipe.procedure().kind()) {
    case attnlab::config::Procedure::KIND_UNSPECIFIED:
    case attnlab::config::Procedure::NONE:
      return std::make_unique<LmStep>(parts);
    case attnlab::config::Procedure::FOCUS_SFT:
      return std::make_unique<FocusSft>(parts);
    default:
      throw Error(ErrorKind::kConfig, "procedure.kind",
                  fmt::format("unknown procedure {}", attnlab::config::Procedure::Kind_Name(
                                                          parts.recipe.procedure().kind())));
  }
}

}  // namespace attn
