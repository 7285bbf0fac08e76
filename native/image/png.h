// PNG decode with libpng, following tf.io.decode_png(channels=3) for 8-bit output: palette expanded,
// gray (1/2/4/8/16-bit) replicated to RGB, alpha and tRNS transparency dropped (not composited),
// 16-bit samples reduced to their high byte (png_set_strip_16), no gamma correction, any interlace.
#pragma once
#include <cstddef>
#include <cstdint>

#include "image/jpeg.h"

namespace carclass::image {

// True when `data` starts with the 8-byte PNG signature.
bool IsPng(const uint8_t* data, size_t size);

// Decodes into `out`, reusing its capacity. Errors: PNG_TRUNCATED (the data ends early), PNG_CORRUPT
// (bad chunk, CRC or compressed data), PNG_TOO_LARGE (width x height over maxPixels, from IHDR,
// before any pixel allocation). Strict (default) keeps libpng's rules: problems in ancillary chunks
// are warnings, everything else fails. Lenient also accepts CRC errors in critical chunks and image
// data that ends early (rows never decoded stay 0, black).
void DecodePng(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out);

}  // namespace carclass::image
