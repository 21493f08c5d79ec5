//! Test helper for the SIGKILL durability test: types notes into a case in a sled store and prints
//! `ACK <n>` after each save returns. The parent kills it at a random moment and checks every
//! acknowledged edit survived.
//!
//! Usage: `durable_writer STORE_DIR new` (creates a case, prints `CASE <case> <appointment> <author>`) or
//! `durable_writer STORE_DIR CASE APPOINTMENT AUTHOR START`.

use std::io::Write;

use casebook_core::Store;
use casebook_core::model::appointment::{AppointmentKind, NewAppointment};
use casebook_core::model::text::TextField;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let store = Store::open(std::path::Path::new(&args[1]))?;
    let mut out = std::io::stdout().lock();
    let (mut case, appointment, author, start) = if args[2] == "new" {
        let (mut case, me) = store.create_case("Patient", "Writer", None)?;
        let a =
            case.add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })?;
        case.save()?;
        writeln!(out, "CASE {} {} {}", case.id(), a, me)?;
        (case, a, me, 0u64)
    } else {
        let case = store.open_case(&args[2].parse()?)?;
        (case, args[3].clone(), args[4].clone(), args[5].parse()?)
    };
    let field = TextField::AppointmentNotes { appointment, author };
    for i in start.. {
        case.append_text(&field, &format!("[{i} é😀]"))?;
        case.save()?;
        writeln!(out, "ACK {i}")?;
        out.flush()?;
    }
    Ok(())
}
