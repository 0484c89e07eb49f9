// Cross-field rules contributed by the layers above framework/ (an attention variant's own
// rules live beside its factory). Validation runs them after the built-in rules and reports
// them the same way: the message names the first field, at the file:line (or --set) where the
// user wrote one of the fields.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>

#include "framework/config/recipe.pb.h"

namespace attn::config {

class RuleCheck {
 public:
  virtual ~RuleCheck() = default;
  // Fails validation with `what` unless ok; `fields` are dotted paths ("attention.window").
  virtual void require(bool ok, std::initializer_list<std::string> fields,
                       const std::string& what) = 0;
};

using RecipeRule = std::function<void(const attnlab::config::Recipe&, RuleCheck&)>;

// Adds a rule to every later validation in this process; registering a name again replaces it.
void register_recipe_rule(const std::string& name, RecipeRule rule);

}  // namespace attn::config
