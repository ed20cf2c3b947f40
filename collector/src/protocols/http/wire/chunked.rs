//! Walks a chunked body (RFC 9112 §7.1) to find where it ends, without keeping it.
//!
//! The body is handed over in pieces as the syscalls that move it are captured:
//! [`ChunkedDecoder::push`] for bytes that were captured, and
//! [`ChunkedDecoder::skip_uncaptured`] for bytes a syscall moved beyond the capture limit.
//! Uncaptured bytes can only be skipped while their position is known: inside a chunk's
//! data and its closing CRLF. One shortcut follows what servers do (nginx writes the last
//! data chunk, its CRLF and `0\r\n\r\n` in one syscall): uncaptured bytes that run exactly
//! five bytes past that CRLF are taken to be the last chunk without trailers.
//!
//! The decoder keeps a few integers: memory is constant, work is linear in the bytes
//! pushed, and chunk-extension and trailer lines are bounded by [`MAX_CHUNK_LINE`].

use super::HttpError;

/// Longest chunk-size line (with its extensions) or trailer line, in bytes.
pub const MAX_CHUNK_LINE: usize = 4096;
/// Most hex digits in a chunk size (a `u64`).
const MAX_SIZE_DIGITS: u8 = 16;
/// `0\r\n\r\n`: the last chunk without trailers.
const LAST_CHUNK_LEN: u64 = 5;

/// Where the decoder is in the chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size.
    Size { digits: u8, size: u64 },
    /// After the digits: whitespace and extensions up to the end of the line.
    SizeLine { size: u64, len: usize },
    /// After the chunk-size line's CR: LF expected.
    SizeLf { size: u64 },
    /// Inside a chunk's data.
    Data { left: u64 },
    /// After the data: CR (or a bare LF) expected.
    DataCr,
    /// After the data's CR: LF expected.
    DataLf,
    /// At the start of a trailer line, or of the empty line that ends the body.
    TrailerStart,
    /// Inside a trailer field line.
    Trailer { len: usize },
    /// After the final empty line's CR: LF expected.
    EndLf,
    /// The body has ended.
    Done,
}

/// What [`ChunkedDecoder::push`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedProgress {
    /// Every byte belongs to the body, which goes on.
    NeedMore,
    /// The body ended after `consumed` bytes of this input; what follows is the next
    /// message.
    Done {
        /// Bytes of the input that belonged to the body.
        consumed: usize,
    },
}

/// What [`ChunkedDecoder::skip_uncaptured`] concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipOutcome {
    /// The skipped bytes were chunk data (and its CRLF); the body goes on.
    InBody,
    /// The skipped bytes ended exactly with a bare last chunk (`0\r\n\r\n`) after the
    /// current chunk: the body is taken to have ended (a guess that holds for servers that
    /// write the last data chunk and the last chunk together).
    AssumedEnd,
}

/// Incremental chunked-body walker. Create one per chunked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
    /// Body bytes pushed or skipped so far (for error offsets).
    offset: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> Self {
        Self {
            state: State::Size { digits: 0, size: 0 },
            offset: 0,
        }
    }

    /// Whether the last chunk and its trailers have been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes pushed or skipped so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Walks captured body bytes. After an error the decoder stays where the error was
    /// (pushing again reports it again); after `Done`, nothing more is consumed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<ChunkedProgress, HttpError> {
        let mut i = 0;
        while i < bytes.len() {
            let at = self.offset + i as u64;
            let b = bytes[i];
            let next = match self.state {
                State::Done => break,
                State::Size { digits, size } => match hex(b) {
                    Some(v) if digits < MAX_SIZE_DIGITS => State::Size {
                        digits: digits + 1,
                        size: size << 4 | u64::from(v),
                    },
                    Some(_) => return Err(HttpError::BadChunkSize { at }),
                    None if digits == 0 => return Err(HttpError::BadChunkSize { at }),
                    None => match b {
                        b' ' | b'\t' | b';' => State::SizeLine { size, len: 1 },
                        b'\r' => State::SizeLf { size },
                        b'\n' => end_of_size_line(size),
                        _ => return Err(HttpError::BadChunkSize { at }),
                    },
                },
                State::SizeLine { size, len } => match b {
                    b'\r' => State::SizeLf { size },
                    b'\n' => end_of_size_line(size),
                    _ if len >= MAX_CHUNK_LINE => return Err(HttpError::ChunkLineTooLong { at }),
                    _ => State::SizeLine { size, len: len + 1 },
                },
                State::SizeLf { size } => match b {
                    b'\n' => end_of_size_line(size),
                    _ => return Err(HttpError::BadChunkSize { at }),
                },
                State::Data { left } => {
                    // Bulk: as much data as this input holds.
                    let n = left.min((bytes.len() - i) as u64);
                    i += n as usize;
                    self.state = if n == left {
                        State::DataCr
                    } else {
                        State::Data { left: left - n }
                    };
                    continue;
                }
                State::DataCr => match b {
                    b'\r' => State::DataLf,
                    b'\n' => State::Size { digits: 0, size: 0 },
                    _ => return Err(HttpError::BadChunkEnd { at }),
                },
                State::DataLf => match b {
                    b'\n' => State::Size { digits: 0, size: 0 },
                    _ => return Err(HttpError::BadChunkEnd { at }),
                },
                State::TrailerStart => match b {
                    b'\r' => State::EndLf,
                    b'\n' => State::Done,
                    _ => State::Trailer { len: 1 },
                },
                State::Trailer { len } => match b {
                    b'\n' => State::TrailerStart,
                    _ if len >= MAX_CHUNK_LINE => return Err(HttpError::ChunkLineTooLong { at }),
                    _ => State::Trailer { len: len + 1 },
                },
                State::EndLf => match b {
                    b'\n' => State::Done,
                    _ => return Err(HttpError::BadChunkEnd { at }),
                },
            };
            self.state = next;
            i += 1;
        }
        self.offset += i as u64;
        Ok(if self.state == State::Done {
            ChunkedProgress::Done { consumed: i }
        } else {
            ChunkedProgress::NeedMore
        })
    }

    /// Accounts for `n` body bytes a syscall moved beyond the capture limit (they come
    /// after every byte pushed so far). Fails with [`HttpError::ChunkSyncLost`] when they
    /// run past the current chunk's data and CRLF (except for the bare last chunk, see
    /// [`SkipOutcome::AssumedEnd`]); the decoder is then unusable.
    pub fn skip_uncaptured(&mut self, n: u64) -> Result<SkipOutcome, HttpError> {
        if n == 0 {
            return Ok(SkipOutcome::InBody);
        }
        // Bytes up to the start of the next chunk-size line whose content is known.
        let (data, crlf) = match self.state {
            State::Data { left } => (left, 2),
            State::DataCr => (0, 2),
            State::DataLf => (0, 1),
            State::Size { digits: 0, .. } => (0, 0),
            _ => return Err(self.sync_lost(n)),
        };
        let at = self.offset;
        self.offset = self.offset.saturating_add(n);
        if n <= data {
            self.state = match data - n {
                0 => State::DataCr,
                left => State::Data { left },
            };
            return Ok(SkipOutcome::InBody);
        }
        let after_data = n - data;
        if after_data <= crlf {
            self.state = match crlf - after_data {
                0 => State::Size { digits: 0, size: 0 },
                1 => State::DataLf,
                _ => State::DataCr,
            };
            return Ok(SkipOutcome::InBody);
        }
        if after_data == crlf + LAST_CHUNK_LEN {
            self.state = State::Done;
            return Ok(SkipOutcome::AssumedEnd);
        }
        self.offset = at;
        Err(self.sync_lost(n))
    }

    fn sync_lost(&self, skipped: u64) -> HttpError {
        HttpError::ChunkSyncLost {
            at: self.offset,
            skipped,
        }
    }
}

/// The state after a chunk-size line: data, or trailers after the last chunk.
fn end_of_size_line(size: u64) -> State {
    if size == 0 {
        State::TrailerStart
    } else {
        State::Data { left: size }
    }
}

/// One hex digit, either case.
fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
