#include "image/bmp.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace carclass::image {

namespace {

uint32_t U32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
uint16_t U16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }

[[noreturn]] void Fail(const char* code, const std::string& reason) { throw ImageError(code, reason); }

// One colour channel of a bit-field pixel, scaled to 0..255 with rounding (a 5-bit 31 becomes 255).
struct Channel {
  uint32_t mask = 0;
  int shift = 0;
  uint32_t max = 0;
  explicit Channel(uint32_t m = 0) : mask(m) {
    if (!mask) return;
    while (!((mask >> shift) & 1)) ++shift;
    max = mask >> shift;
  }
  uint8_t Of(uint32_t pixel) const { return max ? uint8_t((uint64_t((pixel & mask) >> shift) * 255 + max / 2) / max) : 0; }
};

bool Contiguous(uint32_t mask) {
  if (!mask) return true;
  while (!(mask & 1)) mask >>= 1;
  return (mask & (mask + 1)) == 0;
}

}  // namespace

bool IsBmp(const uint8_t* data, size_t size) { return size >= 2 && data[0] == 'B' && data[1] == 'M'; }

void DecodeBmp(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out) {
  if (size == 0) Fail("FILE_EMPTY", "empty input (0 bytes)");
  if (!IsBmp(data, size)) Fail("NOT_BMP", "not a BMP file (missing the BM signature)");
  if (size < 26) Fail("BMP_TRUNCATED", "BMP file is " + std::to_string(size) + " bytes, too short for its headers");
  const uint32_t pixelOffset = U32(data + 10);
  const uint32_t headerSize = U32(data + 14);
  const bool core = headerSize == 12;
  if (!core && headerSize != 40 && headerSize != 52 && headerSize != 56 && headerSize != 108 && headerSize != 124) {
    Fail("BMP_CORRUPT", "unknown BMP header size " + std::to_string(headerSize));
  }
  if (size < 14 + size_t(headerSize)) Fail("BMP_TRUNCATED", "BMP header is cut off (" + std::to_string(size) + " bytes)");
  const uint8_t* h = data + 14;
  int64_t width = core ? U16(h + 4) : int32_t(U32(h + 4));
  int64_t height = core ? U16(h + 6) : int32_t(U32(h + 8));
  const int bpp = core ? U16(h + 10) : U16(h + 14);
  const uint32_t compression = core ? 0 : U32(h + 16);
  const bool topDown = height < 0;
  if (topDown) height = -height;
  if (width <= 0 || height <= 0) Fail("BMP_CORRUPT", "BMP header has width " + std::to_string(width) + " and height " + std::to_string(height));
  const int64_t pixels = width * height;
  if (pixels > options.maxPixels) {
    Fail("BMP_TOO_LARGE", std::to_string(width) + "x" + std::to_string(height) + " = " + std::to_string(pixels) + " pixels exceeds maxPixels " +
                              std::to_string(options.maxPixels));
  }
  if (compression == 1 || compression == 2) Fail("BMP_UNSUPPORTED", "RLE-compressed BMP is not supported");
  if (compression == 4 || compression == 5) Fail("BMP_UNSUPPORTED", "BMP holding a JPEG or PNG is not supported");
  const bool fields = compression == 3 || compression == 6;
  if (compression != 0 && !fields) Fail("BMP_CORRUPT", "unknown BMP compression " + std::to_string(compression));
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32) Fail("BMP_UNSUPPORTED", "BMP bit depth " + std::to_string(bpp) + " is not supported");
  if (fields && bpp != 16 && bpp != 32) Fail("BMP_CORRUPT", "bit fields need 16 or 32 bits per pixel, found " + std::to_string(bpp));

  // Colour masks: BITMAPINFOHEADER + BI_BITFIELDS keeps them right after the header, V2+ inside it.
  Channel red, green, blue;
  if (fields) {
    const size_t at = 14 + 40;  // right after a BITMAPINFOHEADER, or the same bytes inside a V2+ header
    if (size < at + 12) Fail("BMP_TRUNCATED", "BMP bit-field masks are cut off");
    const uint32_t r = U32(data + at), g = U32(data + at + 4), b = U32(data + at + 8);
    if (!Contiguous(r) || !Contiguous(g) || !Contiguous(b)) Fail("BMP_CORRUPT", "BMP bit-field masks are not contiguous");
    red = Channel(r), green = Channel(g), blue = Channel(b);
  } else if (bpp == 16) {
    red = Channel(0x7C00), green = Channel(0x03E0), blue = Channel(0x001F);  // BI_RGB 16-bit is 5-5-5
  }

  // Palette: after the headers (and masks), 4 bytes BGRX per entry (3 for the core header).
  uint8_t palette[256][3] = {};
  int colours = 0;
  if (bpp <= 8) {
    const uint32_t used = core ? 0 : U32(h + 32);
    colours = used == 0 || used > (1u << bpp) ? 1 << bpp : int(used);
    const size_t entry = core ? 3 : 4;
    const size_t at = 14 + headerSize;
    if (at + entry * size_t(colours) > size || at + entry * size_t(colours) > pixelOffset) {
      // Writers may list fewer entries than the depth allows: take those that fit before the pixels.
      const size_t room = pixelOffset > at ? (std::min<size_t>(pixelOffset, size) - at) / entry : 0;
      if (room == 0) Fail("BMP_CORRUPT", "BMP palette is missing");
      colours = int(std::min<size_t>(room, size_t(colours)));
    }
    for (int i = 0; i < colours; ++i) {
      const uint8_t* p = data + at + entry * size_t(i);
      palette[i][0] = p[2], palette[i][1] = p[1], palette[i][2] = p[0];
    }
  }

  const size_t stride = (size_t(width) * size_t(bpp) + 31) / 32 * 4;
  if (pixelOffset >= size) Fail("BMP_TRUNCATED", "BMP pixel data starts at byte " + std::to_string(pixelOffset) + " of a " + std::to_string(size) + "-byte file");
  const size_t rowsPresent = std::min<size_t>(size_t(height), (size - pixelOffset) / stride);
  if (rowsPresent < size_t(height) && !options.lenient) {
    Fail("BMP_TRUNCATED", "truncated BMP pixel data: " + std::to_string(rowsPresent) + " of " + std::to_string(height) + " rows present");
  }
  out.Allocate(int(height), int(width));
  for (int64_t y = 0; y < height; ++y) {
    uint8_t* target = out.Row(int(y));
    const size_t fileRow = size_t(topDown ? y : height - 1 - y);
    if (fileRow >= rowsPresent) {  // lenient: rows the file does not hold stay black
      std::memset(target, 0, size_t(width) * 3);
      continue;
    }
    const uint8_t* row = data + pixelOffset + fileRow * stride;
    for (int64_t x = 0; x < width; ++x, target += 3) {
      if (bpp <= 8) {
        const int perByte = 8 / bpp;
        const int index = (row[x / perByte] >> (8 - bpp * (1 + x % perByte))) & ((1 << bpp) - 1);
        if (index >= colours) Fail("BMP_CORRUPT", "BMP pixel uses colour " + std::to_string(index) + " of a " + std::to_string(colours) + "-colour palette");
        std::memcpy(target, palette[index], 3);
      } else if (bpp == 24) {
        target[0] = row[x * 3 + 2], target[1] = row[x * 3 + 1], target[2] = row[x * 3];
      } else if (bpp == 32 && !fields) {
        target[0] = row[x * 4 + 2], target[1] = row[x * 4 + 1], target[2] = row[x * 4];
      } else {
        const uint32_t pixel = bpp == 16 ? U16(row + x * 2) : U32(row + x * 4);
        target[0] = red.Of(pixel), target[1] = green.Of(pixel), target[2] = blue.Of(pixel);
      }
    }
  }
}

}  // namespace carclass::image
