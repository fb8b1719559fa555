//! A RESP2 client on a plain `TcpStream`: for what no client library sends
//! (garbage, truncated frames, huge headers), for a reply's exact bytes,
//! and for seeing a connection end. Standard library only, so that the
//! tools' tests that drive the `oakmap serve` binary include this file too.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// How long a read waits before the test fails instead of hanging.
pub const REPLY_WAIT: Duration = Duration::from_secs(60);

/// A reply, as RESP2 frames it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Resp>),
    NilArray,
}

impl Resp {
    pub fn bulk(bytes: impl AsRef<[u8]>) -> Resp {
        Resp::Bulk(bytes.as_ref().to_vec())
    }

    pub fn ok() -> Resp {
        Resp::Simple("OK".into())
    }

    pub fn error(text: &str) -> Resp {
        Resp::Error(text.into())
    }

    /// An array of bulk strings.
    pub fn bulks<T: AsRef<[u8]>>(items: impl IntoIterator<Item = T>) -> Resp {
        Resp::Array(items.into_iter().map(Resp::bulk).collect())
    }
}

/// A command as every client library sends it: a multibulk array.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One connection, read and written by hand.
pub struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> io::Result<Raw> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(REPLY_WAIT))?;
        stream.set_nodelay(true)?;
        Ok(Raw {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends bytes as they are, in one write.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Sends one command and reads its reply.
    pub fn command(&mut self, args: &[&[u8]]) -> io::Result<Resp> {
        self.send(&encode(args))?;
        self.reply()
    }

    /// [`Raw::command`] with text arguments, failing the test on an I/O
    /// error.
    pub fn cmd(&mut self, args: &[&str]) -> Resp {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.command(&args).expect("the server answers")
    }

    /// Says that nothing more will be sent (a FIN): the server sees the end
    /// of its input.
    pub fn finish_sending(&mut self) -> io::Result<()> {
        self.writer.shutdown(Shutdown::Write)
    }

    /// Everything the server sends until it closes the connection.
    pub fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.reader.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Reads one reply.
    pub fn reply(&mut self) -> io::Result<Resp> {
        let line = self.line()?;
        let (kind, rest) = line.split_first().ok_or_else(|| bad("an empty line"))?;
        let text = || String::from_utf8_lossy(rest).into_owned();
        let number = || -> io::Result<i64> {
            std::str::from_utf8(rest)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("a malformed number"))
        };
        Ok(match kind {
            b'+' => Resp::Simple(text()),
            b'-' => Resp::Error(text()),
            b':' => Resp::Integer(number()?),
            b'$' => match number()? {
                -1 => Resp::Nil,
                n => {
                    let len = usize::try_from(n).map_err(|_| bad("a negative length"))?;
                    let mut data = vec![0; len + 2];
                    self.reader.read_exact(&mut data)?;
                    if !data.ends_with(b"\r\n") {
                        return Err(bad("bulk data without its CRLF"));
                    }
                    data.truncate(len);
                    Resp::Bulk(data)
                }
            },
            b'*' => match number()? {
                -1 => Resp::NilArray,
                n => {
                    let len = usize::try_from(n).map_err(|_| bad("a negative length"))?;
                    let mut items = Vec::with_capacity(len.min(1 << 16));
                    for _ in 0..len {
                        items.push(self.reply()?);
                    }
                    Resp::Array(items)
                }
            },
            other => return Err(bad(&format!("a reply starting with {other:#04x}"))),
        })
    }

    /// One CRLF-terminated line, without its CRLF.
    fn line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if line.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if !line.ends_with(b"\r\n") {
            return Err(bad("a line without its CRLF"));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the server sent {what}"),
    )
}
