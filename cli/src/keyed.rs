//! Parse the core's enums ([`Keyed`]) as clap values, so that `--help` lists the accepted values and a
//! typo is refused before anything is opened.

use std::ffi::OsStr;
use std::marker::PhantomData;

use casebook_core::Keyed;
use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};

/// A clap value parser for a [`Keyed`] enum (accepts `-` for `_`, any case).
pub(crate) struct KeyedParser<T>(PhantomData<fn() -> T>);

impl<T> Clone for KeyedParser<T> {
    fn clone(&self) -> Self {
        Self(PhantomData)
    }
}

/// The parser for `T`, for `#[arg(value_parser = keyed::<T>())]`.
pub(crate) fn keyed<T: Keyed>() -> KeyedParser<T> {
    KeyedParser(PhantomData)
}

impl<T: Keyed + Send + Sync + Clone> TypedValueParser for KeyedParser<T> {
    type Value = T;

    fn parse_ref(&self, cmd: &clap::Command, arg: Option<&clap::Arg>, value: &OsStr) -> Result<T, clap::Error> {
        let text = value.to_string_lossy();
        T::from_key(&text).ok_or_else(|| {
            let mut e = clap::Error::new(ErrorKind::InvalidValue).with_cmd(cmd);
            if let Some(arg) = arg {
                e.insert(ContextKind::InvalidArg, ContextValue::String(arg.to_string()));
            }
            e.insert(ContextKind::InvalidValue, ContextValue::String(text.into_owned()));
            e.insert(
                ContextKind::ValidValue,
                ContextValue::Strings(T::ALL.iter().map(|v| v.key().to_string()).collect()),
            );
            e
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(T::ALL.iter().map(|v| PossibleValue::new(v.key()))))
    }
}

#[cfg(test)]
mod tests {
    use casebook_core::model::record_request::RecordItem;
    use clap::builder::TypedValueParser;

    #[test]
    fn accepts_dashes_and_refuses_unknown() {
        let cmd = clap::Command::new("t");
        let p = super::keyed::<RecordItem>();
        assert_eq!(p.parse_ref(&cmd, None, "pathology-slides".as_ref()).unwrap(), RecordItem::PathologySlides);
        assert!(p.parse_ref(&cmd, None, "slides".as_ref()).is_err());
    }
}
