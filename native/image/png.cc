#include "image/png.h"

#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace carclass::image {

namespace {

// State libpng's callbacks see. Nothing here has a destructor that a longjmp could skip.
struct PngSource {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t position = 0;
  bool truncated = false;
  bool lenient = false;
  int64_t maxPixels = 0;
  int rowsDone = 0;           // rows of a non-interlaced image completely written
  bool pixelsStarted = false;  // png_read_row/png_read_image was entered
  char message[256] = {0};
  char warning[160] = {0};  // the last libpng warning: often the detail behind a terse error
  // Set by the decode step instead of throwing inside the setjmp frame.
  const char* code = nullptr;
  char detail[160] = {0};
};

PngSource& SourceOf(png_structp png) { return *static_cast<PngSource*>(png_get_error_ptr(png)); }

void OnError(png_structp png, png_const_charp message) {
  PngSource& source = SourceOf(png);
  std::snprintf(source.message, sizeof source.message, "%s", message ? message : "unknown libpng error");
  png_longjmp(png, 1);
}

// Ancillary-chunk problems: libpng recovers, so do we; the text is kept for a later error's message.
void OnWarning(png_structp png, png_const_charp message) {
  std::snprintf(SourceOf(png).warning, sizeof SourceOf(png).warning, "%s", message ? message : "");
}

void ReadBytes(png_structp png, png_bytep target, size_t length) {
  PngSource& source = *static_cast<PngSource*>(png_get_io_ptr(png));
  if (length > source.size - source.position) {
    source.truncated = true;
    png_error(png, "the data ends before the image does");
  }
  std::memcpy(target, source.data + source.position, length);
  source.position += length;
}

// Everything that may longjmp lives in this frame; it holds no C++ object with a destructor.
// Returns true on success; on failure `source.message` (libpng) or `source.code` (ours) says why.
bool ReadPng(png_structp png, png_infop info, PngSource& source, RgbImage& out, std::vector<png_bytep>& rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, &source, ReadBytes);
  if (source.lenient) png_set_crc_action(png, PNG_CRC_WARN_USE, PNG_CRC_WARN_USE);
  png_read_info(png, info);
  png_uint_32 width = 0, height = 0;
  int bitDepth = 0, colorType = 0, interlace = 0;
  png_get_IHDR(png, info, &width, &height, &bitDepth, &colorType, &interlace, nullptr, nullptr);
  const int64_t pixels = int64_t(width) * int64_t(height);
  if (pixels > source.maxPixels) {
    source.code = "PNG_TOO_LARGE";
    std::snprintf(source.detail, sizeof source.detail, "%ux%u = %lld pixels exceeds maxPixels %lld", unsigned(width), unsigned(height),
                  static_cast<long long>(pixels), static_cast<long long>(source.maxPixels));
    return false;
  }
  // tf.io.decode_png's transforms for channels=3, uint8 (tensorflow/core/lib/png/png_io.cc).
  const bool hasTransparency = (colorType & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS);
  if (hasTransparency) png_set_strip_alpha(png);
  if (bitDepth > 8) png_set_strip_16(png);
  png_set_packing(png);
  const int passes = png_set_interlace_handling(png);
  if (colorType == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (!(colorType & PNG_COLOR_MASK_COLOR)) {
    if (bitDepth < 8) png_set_expand_gray_1_2_4_to_8(png);
    png_set_gray_to_rgb(png);
  }
  png_read_update_info(png, info);
  if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8) {
    source.code = "PNG_UNSUPPORTED";
    std::snprintf(source.detail, sizeof source.detail, "PNG (colour type %d, %d-bit) did not convert to 8-bit RGB", colorType, bitDepth);
    return false;
  }
  out.Allocate(int(height), int(width));
  // Rows a truncated image never reaches stay black, as in lenient JPEG decoding.
  for (int y = 0; y < int(height); ++y) std::memset(out.Row(y), 0, size_t(width) * 3);
  source.pixelsStarted = true;
  if (passes == 1) {
    for (int y = 0; y < int(height); ++y) {
      png_read_row(png, out.Row(y), nullptr);
      source.rowsDone = y + 1;
    }
  } else {
    rows.resize(height);
    for (int y = 0; y < int(height); ++y) rows[size_t(y)] = out.Row(y);
    png_read_image(png, rows.data());
    source.rowsDone = int(height);
  }
  // The rest of the file up to IEND: checks the last IDAT CRC and catches trailing damage.
  png_read_end(png, nullptr);
  return true;
}

struct ReadStruct {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~ReadStruct() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

// libpng allocates a non-IDAT chunk's buffer from its declared length before reading a byte of it: a
// 185-byte file declaring a 2 GB tEXt chunk took 2 GB and 2 s. A chunk cannot be longer than what is left
// of the file, so libpng sees the data only up to the first non-IDAT chunk that claims more: there the
// file is truncated, as it is anyway. (IDAT is read in small pieces: its overrun is an ordinary truncation.)
size_t BytesBeforeOverrunningChunk(const uint8_t* data, size_t size) {
  size_t at = 8;
  while (size - at >= 8) {
    const uint32_t length = uint32_t(data[at]) << 24 | uint32_t(data[at + 1]) << 16 | uint32_t(data[at + 2]) << 8 | data[at + 3];
    if (length > PNG_UINT_31_MAX) break;  // libpng refuses it before allocating
    const bool idat = std::memcmp(data + at + 4, "IDAT", 4) == 0, iend = std::memcmp(data + at + 4, "IEND", 4) == 0;
    if (uint64_t(length) + 12 > size - at) return idat ? size : at;
    at += size_t(length) + 12;
    if (iend) break;
  }
  return size;
}

}  // namespace

bool IsPng(const uint8_t* data, size_t size) { return size >= 8 && png_sig_cmp(data, 0, 8) == 0; }

void DecodePng(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out) {
  if (size == 0) throw ImageError("FILE_EMPTY", "empty input (0 bytes)");
  if (!IsPng(data, size)) throw ImageError("NOT_PNG", "not a PNG file (missing the PNG signature)");
  PngSource source;
  source.data = data;
  source.size = BytesBeforeOverrunningChunk(data, size);
  source.position = 8;
  source.lenient = options.lenient;
  source.maxPixels = options.maxPixels;
  ReadStruct read;
  read.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, OnError, OnWarning);
  if (read.png) read.info = png_create_info_struct(read.png);
  if (!read.png || !read.info) throw ImageError("PNG_CORRUPT", "could not initialise libpng");
  png_set_sig_bytes(read.png, 8);
  // maxPixels is the one size rule (checked from IHDR before any pixel buffer), not libpng's 1M x 1M default.
  png_set_user_limits(read.png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  std::vector<png_bytep> rows;
  if (ReadPng(read.png, read.info, source, out, rows)) return;
  if (source.code) throw ImageError(source.code, source.detail);
  // Lenient: image data that ends early (or damage after the last row) keeps what was decoded.
  const bool gotRows = source.pixelsStarted && (source.rowsDone > 0 || source.truncated);
  if (options.lenient && gotRows) return;
  if (source.truncated) {
    throw ImageError("PNG_TRUNCATED", std::string("truncated PNG data") + (source.pixelsStarted ? " in the image data" : " before the image data") +
                                          " (" + std::to_string(size) + " bytes): " + source.message);
  }
  const std::string detail = source.warning[0] ? std::string(" (libpng warned: ") + source.warning + ")" : "";
  throw ImageError("PNG_CORRUPT", std::string("corrupt PNG data") + (source.pixelsStarted ? " in the image data: " : ": ") + source.message + detail);
}

}  // namespace carclass::image
