// A 5x7 pixel bitmap font (digits, A-Z with lowercase drawn as capitals, a small 'e' for exponents,
// and the punctuation plots need) so the PNG plotter labels axes without a font library.
#pragma once

#include <cstdint>
#include <string_view>

namespace attn {

inline constexpr int kGlyphWidth = 5;
inline constexpr int kGlyphHeight = 7;
inline constexpr int kGlyphAdvance = 6;  // one blank column between characters

// Seven rows, top first; bit 4 of each row is the leftmost pixel. Unknown characters get '?'.
// `prev` is the character before `c`: an 'e' after a digit is an exponent (1e-3) and stays small.
const uint8_t* glyph_rows(char c, char prev = ' ');

// Width in pixels of `text` drawn at `scale` (no trailing gap).
inline int text_width(std::string_view text, int scale) {
  return text.empty() ? 0 : (static_cast<int>(text.size()) * kGlyphAdvance - 1) * scale;
}

}  // namespace attn
