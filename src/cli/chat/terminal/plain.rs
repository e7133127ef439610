//! Reading plain lines when there is no terminal to edit on (pipes,
//! scripts, TERM=dumb).

use std::io::{BufRead, IsTerminal, Write};
use std::sync::mpsc as std_mpsc;

use sotto::sanitize::for_terminal;
use tokio::sync::mpsc;

use super::{Ask, Input, Request};

pub(super) fn run_plain(
    requests: &std_mpsc::Receiver<Request>,
    lines: &mpsc::UnboundedSender<Input>,
) {
    let stdin = std::io::stdin();
    while let Ok(request) = requests.recv() {
        match request {
            Request::Read { prompt, ask } => {
                if ask == Ask::Question {
                    write_out(&prompt);
                }
                let input = read_plain(&mut stdin.lock());
                if ask == Ask::Question && !stdin.is_terminal() {
                    // Nobody saw the answer typed: show it, so a log of
                    // the session reads "Your name: carol".
                    match &input {
                        Input::Line(line) => write_out(&format!("{}\n", for_terminal(line))),
                        _ => write_out("\n"),
                    }
                }
                if lines.send(input).is_err() {
                    return;
                }
            }
            Request::Close { done } => {
                let _ = done.send(());
                return;
            }
        }
    }
}

pub(super) fn write_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn read_plain(input: &mut impl BufRead) -> Input {
    let mut line = String::new();
    match input.read_line(&mut line) {
        Ok(0) => Input::Eof,
        Ok(_) => {
            let end = line.trim_end_matches(['\r', '\n']).len();
            line.truncate(end);
            Input::Line(line)
        }
        Err(err) => Input::Failed(format!("could not read standard input: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_lose_their_newline_and_eof_is_eof() {
        let mut input = std::io::Cursor::new(b"hello\r\n/quit\n".to_vec());
        assert!(matches!(read_plain(&mut input), Input::Line(l) if l == "hello"));
        assert!(matches!(read_plain(&mut input), Input::Line(l) if l == "/quit"));
        assert!(matches!(read_plain(&mut input), Input::Eof));
    }
}
