//! A request encoded once: the exporters queue protobuf bytes, not messages, so the memory
//! budget counts what the queue really holds, and no attempt encodes (or clones) a
//! request again. OTLP/HTTP posts the bytes (gzipped when configured); OTLP/gRPC sends
//! them through [`PreEncoded`], a tonic codec whose encoder copies them into the frame.

use std::marker::PhantomData;

use bytes::{BufMut, Bytes};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

use super::signal::OtlpRequest;

/// The protobuf encoding of one `R`.
#[derive(Debug, Clone)]
pub struct Encoded<R> {
    bytes: Bytes,
    request: PhantomData<fn() -> R>,
}

impl<R: OtlpRequest> Encoded<R> {
    /// Encodes `request` (into a buffer of exactly its encoded length).
    pub fn new(request: &R) -> Self {
        Encoded {
            bytes: Bytes::from(request.encode_to_vec()),
            request: PhantomData,
        }
    }
}

impl<R> Encoded<R> {
    /// Bytes that already are an `R`'s protobuf encoding (written without building `R`).
    pub(crate) fn from_encoded(bytes: Vec<u8>) -> Self {
        Encoded {
            bytes: Bytes::from(bytes),
            request: PhantomData,
        }
    }

    /// The encoded bytes (a cheap, shared handle).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Encoded length in bytes: the memory this request holds in a queue.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
}

/// A gRPC codec sending already-encoded protobuf bytes and decoding a `U` response.
#[derive(Debug)]
pub(crate) struct PreEncoded<U>(PhantomData<fn() -> U>);

impl<U> Default for PreEncoded<U> {
    fn default() -> Self {
        PreEncoded(PhantomData)
    }
}

impl<U: Message + Default + Send + 'static> Codec for PreEncoded<U> {
    type Encode = Bytes;
    type Decode = U;
    type Encoder = BytesEncoder;
    type Decoder = ProtobufDecoder<U>;

    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> ProtobufDecoder<U> {
        ProtobufDecoder(PhantomData)
    }
}

/// Writes the bytes as they are: they are the message.
#[derive(Debug)]
pub(crate) struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.len());
        dst.put_slice(&item);
        Ok(())
    }
}

/// Decodes the response with prost, as tonic's generated clients do.
#[derive(Debug)]
pub(crate) struct ProtobufDecoder<U>(PhantomData<fn() -> U>);

impl<U: Message + Default> Decoder for ProtobufDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        // An undecodable message is INTERNAL, as in tonic-prost.
        U::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("cannot decode the response: {e}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    #[test]
    fn encoded_once_decodes_to_the_same_request() {
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![
                        LogRecord {
                            severity_text: "INFO".into(),
                            ..Default::default()
                        };
                        3
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let e = Encoded::new(&req);
        assert_eq!(e.len(), req.encoded_len());
        assert_eq!(
            ExportLogsServiceRequest::decode(e.bytes().clone()).unwrap(),
            req
        );
        assert_eq!(Encoded::new(&ExportLogsServiceRequest::default()).len(), 0);
    }
}
