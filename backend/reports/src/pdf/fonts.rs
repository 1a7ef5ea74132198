//! The embedded fonts (see `fonts/README.md`): DejaVu Sans for text, Droid Sans Fallback for the
//! characters DejaVu has no glyph for (CJK above all). Parsed once per process.

use std::sync::OnceLock;

use printpdf::ParsedFont;

const REGULAR: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../../fonts/DejaVuSans-Bold.ttf");
const FALLBACK: &[u8] = include_bytes!("../../fonts/DroidSansFallbackFull.ttf");

/// The weight text is set in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Regular,
    Bold,
}

/// Index of a font in [`Fonts::faces`].
pub type FontIndex = usize;
const FALLBACK_INDEX: FontIndex = 2;

/// The parsed fonts.
pub struct Fonts {
    pub faces: [ParsedFont; 3],
}

static FONTS: OnceLock<Result<Fonts, String>> = OnceLock::new();

/// The fonts, parsed on first use.
pub fn fonts() -> Result<&'static Fonts, String> {
    FONTS
        .get_or_init(|| {
            let parse = |bytes: &[u8], name: &str| {
                ParsedFont::from_bytes(bytes, 0, &mut Vec::new())
                    .ok_or_else(|| format!("the font {name} does not parse"))
            };
            Ok(Fonts {
                faces: [
                    parse(REGULAR, "DejaVuSans.ttf")?,
                    parse(BOLD, "DejaVuSans-Bold.ttf")?,
                    parse(FALLBACK, "DroidSansFallbackFull.ttf")?,
                ],
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

impl Fonts {
    /// The font `c` is set in: the face's own when it has the glyph, else the fallback when it
    /// has it, else the face's (which shows its missing-glyph box).
    pub fn pick(&self, face: Face, c: char) -> FontIndex {
        let own = match face {
            Face::Regular => 0,
            Face::Bold => 1,
        };
        if c.is_control() || self.faces[own].lookup_glyph_index(u32::from(c)).is_some() {
            own
        } else if self.faces[FALLBACK_INDEX].lookup_glyph_index(u32::from(c)).is_some() {
            FALLBACK_INDEX
        } else {
            own
        }
    }

    /// The advance of `c` in `font`, in thousandths of the font size.
    pub fn advance(&self, font: FontIndex, c: char) -> f32 {
        let parsed = &self.faces[font];
        let units = parsed.units_per_em.max(1) as f32;
        let width = parsed
            .lookup_glyph_index(u32::from(c))
            .and_then(|gid| parsed.get_glyph_width(gid))
            .unwrap_or(parsed.units_per_em / 2);
        f32::from(width) * 1000.0 / units
    }

    /// The width of `text` set in `face` at `size` points.
    pub fn width(&self, face: Face, size: f32, text: &str) -> f32 {
        text.chars().map(|c| self.advance(self.pick(face, c), c)).sum::<f32>() * size / 1000.0
    }

    /// `text` split into runs that share a font.
    pub fn runs<'t>(&self, face: Face, text: &'t str) -> Vec<(FontIndex, &'t str)> {
        let mut runs = Vec::new();
        let mut start = 0;
        let mut current: Option<FontIndex> = None;
        for (at, c) in text.char_indices() {
            let font = self.pick(face, c);
            match current {
                Some(previous) if previous != font => {
                    runs.push((previous, &text[start..at]));
                    start = at;
                    current = Some(font);
                }
                None => current = Some(font),
                _ => {}
            }
        }
        if let Some(font) = current {
            runs.push((font, &text[start..]));
        }
        runs
    }
}
