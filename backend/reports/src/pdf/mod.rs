//! A small page-layout layer over printpdf 0.12, which only places what it is told where it is
//! told: pages of A4, a cursor that moves down and breaks pages, text in the embedded fonts
//! (measured for wrapping and cutting), filled rectangles and lines for charts and tables, a
//! running header and page numbers added once the page count is known, and files attached as PDF
//! embedded files (printpdf has no API for them: they are added to the lopdf document it builds).

pub mod charts;
pub mod fonts;

use chrono::{DateTime, Utc};
use lopdf::{Dictionary, Object, Stream, StringFormat};
use printpdf::{
    Color, FontId, Line, LinePoint, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt,
    Rect, Rgb, TextItem, TextMatrix, WindingOrder,
};

pub use self::fonts::Face;
use self::fonts::{Fonts, fonts};

/// A4, in points.
pub const PAGE_WIDTH: f32 = 595.28;
pub const PAGE_HEIGHT: f32 = 841.89;
pub const MARGIN: f32 = 48.0;
/// Where content starts on a page (below the running header).
pub const CONTENT_TOP: f32 = PAGE_HEIGHT - 64.0;
/// Where content must end (above the footer).
pub const CONTENT_BOTTOM: f32 = 52.0;
pub const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;

pub const BLACK: (f32, f32, f32) = (0.1, 0.1, 0.12);
pub const GREY: (f32, f32, f32) = (0.42, 0.44, 0.48);
pub const LIGHT: (f32, f32, f32) = (0.93, 0.94, 0.96);
pub const ACCENT: (f32, f32, f32) = (0.13, 0.33, 0.62);
pub const GREEN: (f32, f32, f32) = (0.20, 0.60, 0.36);
pub const ORANGE: (f32, f32, f32) = (0.90, 0.55, 0.10);
pub const RED: (f32, f32, f32) = (0.80, 0.18, 0.20);

fn color((r, g, b): (f32, f32, f32)) -> Color {
    Color::Rgb(Rgb::new(r, g, b, None))
}

/// A file attached to the PDF.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub name: String,
    pub mime: String,
    pub description: String,
    pub bytes: Vec<u8>,
}

/// A finished PDF.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub pages: u32,
}

/// Drawn at the top of every new page (a table's header).
type PageHook = Box<dyn Fn(&mut Canvas) + Send>;

/// A document being laid out.
pub struct Canvas {
    fonts: &'static Fonts,
    doc: PdfDocument,
    /// Each font's id in `doc`, registered on first use (the CJK fallback is large).
    font_ids: [Option<FontId>; 3],
    pages: Vec<Vec<Op>>,
    /// The cursor: the top of the next thing placed, in points from the page's bottom.
    pub y: f32,
    /// Called at each new page (table headers repeat this way).
    on_new_page: Option<PageHook>,
}

impl Canvas {
    pub fn new(title: &str) -> Result<Self, String> {
        let mut canvas = Self {
            fonts: fonts()?,
            doc: PdfDocument::new(title),
            font_ids: [None, None, None],
            pages: Vec::new(),
            y: CONTENT_TOP,
            on_new_page: None,
        };
        canvas.new_page();
        Ok(canvas)
    }

    pub fn fonts(&self) -> &'static Fonts {
        self.fonts
    }

    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Starts a page and puts the cursor at its top.
    pub fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = CONTENT_TOP;
        if let Some(hook) = self.on_new_page.take() {
            hook(self);
            self.on_new_page = Some(hook);
        }
    }

    /// Runs `hook` at every page started from now on, until [`Self::clear_page_hook`].
    pub fn set_page_hook(&mut self, hook: impl Fn(&mut Canvas) + Send + 'static) {
        self.on_new_page = Some(Box::new(hook));
    }

    pub fn clear_page_hook(&mut self) {
        self.on_new_page = None;
    }

    /// Makes room for `height` points: a new page when the current one has less left.
    pub fn ensure(&mut self, height: f32) {
        if self.y - height < CONTENT_BOTTOM {
            self.new_page();
        }
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn font_id(&mut self, index: usize) -> FontId {
        if let Some(id) = &self.font_ids[index] {
            return id.clone();
        }
        let id = self.doc.add_font(&self.fonts.faces[index]);
        self.font_ids[index] = Some(id.clone());
        id
    }

    /// The width of `text` in points.
    pub fn width(&self, face: Face, size: f32, text: &str) -> f32 {
        self.fonts.width(face, size, text)
    }

    /// Places one line of text with its baseline at `(x, y)` on the current page.
    pub fn text_at(&mut self, x: f32, y: f32, size: f32, face: Face, rgb: (f32, f32, f32), text: &str) {
        let text = single_line(text);
        if text.is_empty() {
            return;
        }
        let runs = self.fonts.runs(face, &text);
        let mut ops = vec![Op::StartTextSection, Op::SetFillColor { col: color(rgb) }];
        let mut pen = x;
        for (font, run) in runs {
            let id = self.font_id(font);
            ops.push(Op::SetFont { font: PdfFontHandle::External(id), size: Pt(size) });
            ops.push(Op::SetTextMatrix { matrix: TextMatrix::Translate(Pt(pen), Pt(y)) });
            ops.push(Op::ShowText { items: vec![TextItem::Text(run.to_owned())] });
            pen += run.chars().map(|c| self.fonts.advance(font, c)).sum::<f32>() * size / 1000.0;
        }
        ops.push(Op::EndTextSection);
        self.ops().extend(ops);
    }

    /// Places text ending at `right`.
    pub fn text_right(&mut self, right: f32, y: f32, size: f32, face: Face, rgb: (f32, f32, f32), text: &str) {
        let width = self.width(face, size, text);
        self.text_at(right - width, y, size, face, rgb, text);
    }

    /// `text` cut to `max_width` points, with an ellipsis when cut.
    pub fn fit(&self, face: Face, size: f32, text: &str, max_width: f32) -> String {
        let text = single_line(text);
        if self.width(face, size, &text) <= max_width {
            return text;
        }
        let budget = max_width - self.width(face, size, "…");
        let mut used = 0.0;
        let mut out = String::new();
        for c in text.chars() {
            used += self.fonts.advance(self.fonts.pick(face, c), c) * size / 1000.0;
            if used > budget {
                break;
            }
            out.push(c);
        }
        out.push('…');
        out
    }

    /// `text` broken into lines of at most `max_width` points, at spaces where possible.
    pub fn wrap(&self, face: Face, size: f32, text: &str, max_width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let mut line = String::new();
            for word in paragraph.split_whitespace() {
                let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
                if self.width(face, size, &candidate) <= max_width {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                // A word wider than the line (a hash, a CJK sentence) is broken anywhere.
                let mut piece = String::new();
                for c in word.chars() {
                    piece.push(c);
                    if self.width(face, size, &piece) > max_width {
                        piece.pop();
                        lines.push(std::mem::take(&mut piece));
                        piece.push(c);
                    }
                }
                line = piece;
            }
            lines.push(line);
        }
        lines
    }

    /// Flows a paragraph at the cursor, breaking pages as needed.
    pub fn paragraph(&mut self, text: &str, size: f32, face: Face, rgb: (f32, f32, f32)) {
        self.paragraph_at(MARGIN, CONTENT_WIDTH, text, size, face, rgb);
    }

    /// Flows a paragraph in the column starting at `x`, `width` wide.
    pub fn paragraph_at(&mut self, x: f32, width: f32, text: &str, size: f32, face: Face, rgb: (f32, f32, f32)) {
        let leading = size * 1.4;
        for line in self.wrap(face, size, text, width) {
            self.ensure(leading);
            self.y -= leading;
            self.text_at(x, self.y + leading * 0.28, size, face, rgb, &line);
        }
    }

    /// A section title, kept with at least `keep` points of what follows.
    pub fn heading(&mut self, text: &str, keep: f32) {
        self.ensure(40.0 + keep);
        self.y -= 26.0;
        self.text_at(MARGIN, self.y, 14.0, Face::Bold, ACCENT, text);
        self.y -= 4.0;
        self.hline(MARGIN, PAGE_WIDTH - MARGIN, self.y, LIGHT, 1.0);
        self.y -= 8.0;
    }

    /// Moves the cursor down.
    pub fn space(&mut self, points: f32) {
        self.y -= points;
    }

    /// A filled rectangle with its lower left corner at `(x, y)`.
    pub fn rect(&mut self, x: f32, y: f32, width: f32, height: f32, rgb: (f32, f32, f32)) {
        let rectangle = Rect {
            x: Pt(x),
            y: Pt(y),
            width: Pt(width),
            height: Pt(height),
            mode: Some(PaintMode::Fill),
            winding_order: Some(WindingOrder::NonZero),
        };
        self.ops().extend([
            Op::SaveGraphicsState,
            Op::SetFillColor { col: color(rgb) },
            Op::DrawRectangle { rectangle },
            Op::RestoreGraphicsState,
        ]);
    }

    /// A stroked polyline through `points`.
    pub fn polyline(&mut self, points: &[(f32, f32)], rgb: (f32, f32, f32), thickness: f32) {
        if points.len() < 2 {
            return;
        }
        let line = Line {
            points: points
                .iter()
                .map(|(x, y)| LinePoint { p: Point { x: Pt(*x), y: Pt(*y) }, bezier: false })
                .collect(),
            is_closed: false,
        };
        self.ops().extend([
            Op::SaveGraphicsState,
            Op::SetOutlineColor { col: color(rgb) },
            Op::SetOutlineThickness { pt: Pt(thickness) },
            Op::DrawLine { line },
            Op::RestoreGraphicsState,
        ]);
    }

    pub fn hline(&mut self, x1: f32, x2: f32, y: f32, rgb: (f32, f32, f32), thickness: f32) {
        self.polyline(&[(x1, y), (x2, y)], rgb, thickness);
    }

    /// Writes the PDF: every page gets `header` at its top and "page i of n" at its bottom; the
    /// documents dates are `created`; `attachments` become embedded files.
    pub fn finish(
        mut self,
        header: &str,
        footer: &str,
        created: DateTime<Utc>,
        attachments: &[Attachment],
    ) -> Result<Rendered, String> {
        let total = self.pages.len();
        let pages = std::mem::take(&mut self.pages);
        let mut finished = Vec::with_capacity(total);
        for (index, ops) in pages.into_iter().enumerate() {
            self.pages = vec![Vec::new()];
            let header_y = PAGE_HEIGHT - 34.0;
            let header_text = self.fit(Face::Regular, 8.0, header, CONTENT_WIDTH - 70.0);
            self.text_at(MARGIN, header_y, 8.0, Face::Regular, GREY, &header_text);
            self.text_right(PAGE_WIDTH - MARGIN, header_y, 8.0, Face::Bold, ACCENT, "Veritrail");
            self.hline(MARGIN, PAGE_WIDTH - MARGIN, header_y - 6.0, LIGHT, 0.8);
            self.hline(MARGIN, PAGE_WIDTH - MARGIN, 40.0, LIGHT, 0.8);
            let footer_text = self.fit(Face::Regular, 7.5, footer, CONTENT_WIDTH - 90.0);
            self.text_at(MARGIN, 28.0, 7.5, Face::Regular, GREY, &footer_text);
            self.text_right(
                PAGE_WIDTH - MARGIN,
                28.0,
                8.0,
                Face::Regular,
                GREY,
                &format!("Page {} of {total}", index + 1),
            );
            let mut page_ops = ops;
            page_ops.append(&mut self.pages[0]);
            finished.push(PdfPage::new(
                printpdf::Mm::from(Pt(PAGE_WIDTH)),
                printpdf::Mm::from(Pt(PAGE_HEIGHT)),
                page_ops,
            ));
        }
        let when = printpdf::OffsetDateTime::from_unix_timestamp(created.timestamp()).map_err(str::to_owned)?;
        let info = &mut self.doc.metadata.info;
        info.creation_date = when;
        info.modification_date = when;
        info.metadata_date = when;
        info.creator = "Veritrail".to_owned();
        info.producer = "Veritrail (printpdf)".to_owned();
        self.doc.with_pages(finished);
        let options = PdfSaveOptions { optimize: false, ..PdfSaveOptions::default() };
        let mut warnings = Vec::new();
        let mut document = self.doc.to_lopdf_document(&options, &mut warnings);
        attach(&mut document, attachments)?;
        document.compress();
        let mut bytes = Vec::new();
        document.save_to(&mut bytes).map_err(|error| format!("cannot write the PDF: {error}"))?;
        Ok(Rendered { bytes, pages: total as u32 })
    }
}

/// Adds `attachments` as document-level embedded files (the catalog's `/Names /EmbeddedFiles`
/// name tree and `/AF`), which PDF readers list as attachments and `pdfdetach` extracts.
fn attach(document: &mut lopdf::Document, attachments: &[Attachment]) -> Result<(), String> {
    if attachments.is_empty() {
        return Ok(());
    }
    document.version = "1.7".to_owned();
    let mut names = Vec::new();
    let mut specs = Vec::new();
    for attachment in attachments {
        let mut params = Dictionary::new();
        params.set("Size", Object::Integer(attachment.bytes.len() as i64));
        let mut stream_dict = Dictionary::new();
        stream_dict.set("Type", Object::Name(b"EmbeddedFile".to_vec()));
        stream_dict.set("Subtype", Object::Name(attachment.mime.replace('/', "#2F").into_bytes()));
        stream_dict.set("Params", Object::Dictionary(params));
        let mut stream = Stream::new(stream_dict, attachment.bytes.clone());
        // Compressed here: the document's compress() leaves streams it did not make alone.
        let _ = stream.compress();
        let file_id = document.add_object(Object::Stream(stream));
        let mut embedded = Dictionary::new();
        embedded.set("F", Object::Reference(file_id));
        embedded.set("UF", Object::Reference(file_id));
        let name = Object::String(attachment.name.clone().into_bytes(), StringFormat::Literal);
        let mut spec = Dictionary::new();
        spec.set("Type", Object::Name(b"Filespec".to_vec()));
        spec.set("F", name.clone());
        spec.set("UF", name.clone());
        spec.set("Desc", Object::String(attachment.description.clone().into_bytes(), StringFormat::Literal));
        spec.set("AFRelationship", Object::Name(b"Supplement".to_vec()));
        spec.set("EF", Object::Dictionary(embedded));
        let spec_id = document.add_object(Object::Dictionary(spec));
        names.push(name);
        names.push(Object::Reference(spec_id));
        specs.push(Object::Reference(spec_id));
    }
    let mut tree = Dictionary::new();
    tree.set("Names", Object::Array(names));
    let mut catalog_names = Dictionary::new();
    catalog_names.set("EmbeddedFiles", Object::Dictionary(tree));
    let catalog = document.catalog_mut().map_err(|error| format!("the PDF has no catalog: {error}"))?;
    catalog.set("Names", Object::Dictionary(catalog_names));
    catalog.set("AF", Object::Array(specs));
    catalog.set("PageMode", Object::Name(b"UseAttachments".to_vec()));
    Ok(())
}

/// Text on one line: control characters (newlines, tabs) become spaces.
pub fn single_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}
