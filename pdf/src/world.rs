//! The Typst world of one document: a fixed template as the main source, the data it reads as virtual
//! files, the fonts, a fixed date. Nothing else: no file system beyond the fonts, no network, no packages.

use std::collections::HashMap;
use std::sync::Arc;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};

use crate::fonts::Fonts;

/// The virtual path of the JSON data every template reads (`json("/data.json")`).
pub const DATA_PATH: &str = "/data.json";

/// The file id of a virtual path of the document's project.
pub(crate) fn file_id(path: &str) -> FileId {
    let vpath = VirtualPath::new(path).expect("a fixed, valid virtual path");
    FileId::new(RootedPath::new(VirtualRoot::Project, vpath))
}

/// One document to compile.
pub(crate) struct DocWorld {
    library: LazyHash<Library>,
    fonts: Arc<Fonts>,
    main: Source,
    files: HashMap<FileId, Bytes>,
    today: Option<Datetime>,
}

impl DocWorld {
    /// `template` (a fixed Typst source of this crate), with `data` served at [`DATA_PATH`], dated `today`.
    pub(crate) fn new(template: &'static str, data: Vec<u8>, fonts: Arc<Fonts>, today: time::Date) -> DocWorld {
        let main = Source::new(file_id("/main.typ"), template.to_string());
        let mut files = HashMap::new();
        files.insert(file_id(DATA_PATH), Bytes::new(data));
        DocWorld {
            library: LazyHash::new(Library::default()),
            fonts,
            main,
            files,
            today: Datetime::from_ymd(today.year(), u8::from(today.month()), today.day()),
        }
    }

    /// Serve `bytes` at the virtual `path` (an enclosed attachment).
    pub(crate) fn add_file(&mut self, path: &str, bytes: Bytes) {
        self.files.insert(file_id(path), bytes);
    }
}

impl World for DocWorld {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        self.fonts.book()
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() { Ok(self.main.clone()) } else { Err(FileError::NotSource) }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.main.id() {
            return Ok(Bytes::from_string(self.main.clone()));
        }
        self.files.get(&id).cloned().ok_or_else(|| FileError::NotFound(id.get().vpath().get_without_slash().into()))
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.font(index)
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        self.today
    }
}
