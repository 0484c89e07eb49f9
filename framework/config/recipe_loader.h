// Recipes: parse a text-format file over the built-in defaults, apply `--set a.b.c=value`
// overrides, validate every range and cross-field rule, and name file:line (or the --set) on error.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "framework/config/recipe.pb.h"

namespace attn::config {

using Recipe = attnlab::config::Recipe;

// Loads `path`: defaults, then the file, then each override in order, then validation.
// Throws attn::Error(kConfig) with where = "path:line", "path" (missing file, defaulted field) or
// "--set a.b=v" (override).
Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides = {});

// The same from text; `display_name` stands in for the path in error locations.
Recipe load_recipe_from_string(const std::string& text, const std::string& display_name,
                               const std::vector<std::string>& overrides = {});

// Every field, zero values included, in declaration order: the resolved recipe saved with a run.
// load_recipe_from_string(recipe_to_text(r), ...) == r.
std::string recipe_to_text(const Recipe& recipe);

// FNV-1a 64 of the deterministic binary serialization: equal recipes hash equal on any machine.
// train.device is left out: where a run executes does not make it another experiment, so a
// GPU checkpoint resumes on the CPU and vice versa. So is CAD (parallel.mode CAD and its
// parallel.cad options hash as DATA_PARALLEL): it moves where core attention runs, not what
// the run computes, so a CAD checkpoint resumes as plain data parallel and vice versa.
uint64_t recipe_hash(const Recipe& recipe);
std::string recipe_hash_hex(const Recipe& recipe);  // 16 lowercase hex digits

// The embedded framework/config/defaults.textproto.
std::string_view default_recipe_text();

// Derived shapes (valid only for a validated recipe).
inline int kv_heads(const attnlab::config::Model& m) {
  return m.kv_heads() == 0 ? m.heads() : m.kv_heads();
}
inline int head_dim(const attnlab::config::Model& m) {
  return m.width() / m.heads();
}
inline int64_t mlp_hidden(const attnlab::config::Model& m) {
  return std::llround(m.mlp_ratio() * m.width());  // validated to be whole (up to rounding)
}

}  // namespace attn::config
