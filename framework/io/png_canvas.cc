#include "framework/io/png_canvas.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>

#include "framework/core/error.h"

namespace attn {

namespace {

void on_png_error(png_structp png, png_const_charp msg) {
  std::snprintf(static_cast<char*>(png_get_error_ptr(png)), 256, "%s", msg);
  png_longjmp(png, 1);
}
void on_png_warning(png_structp, png_const_charp) {}
void on_png_write(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), n);
}

}  // namespace

// Encodes in memory so the file itself can be replaced atomically in one write.
std::string encode_png(const Canvas& c) {
  std::string out;
  char err[256] = "unknown libpng error";
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, err, on_png_error, on_png_warning);
  if (!png) ATTN_FAIL(kInternal, "png_create_write_struct failed");
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    ATTN_FAIL(kInternal, "libpng: {}", err);
  }
  png_set_write_fn(png, &out, on_png_write, nullptr);
  png_set_IHDR(png, info, c.width(), c.height(), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < c.height(); ++y) png_write_row(png, c.row(y));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

}  // namespace attn
