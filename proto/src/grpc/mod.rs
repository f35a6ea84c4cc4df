//! gRPC over HTTP/2, the parts that are bytes: length-prefixed message framing, status codes,
//! and the `grpc-status`, `grpc-message` and `grpc-timeout` metadata.

mod frame;
mod metadata;

pub use frame::{encode_message, encode_payload, FrameDecoder, FrameError, FRAME_HEADER_BYTES};
pub use metadata::{
    decode_grpc_message, encode_grpc_message, encode_grpc_timeout, parse_grpc_status,
    parse_grpc_timeout, TimeoutError,
};

use alloc::format;
use alloc::string::String;

/// A gRPC status code, as carried by the `grpc-status` trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum Code {
    /// 0.
    Ok = 0,
    /// 1 (grpc-go spells it `Canceled`).
    Canceled = 1,
    /// 2.
    Unknown = 2,
    /// 3.
    InvalidArgument = 3,
    /// 4.
    DeadlineExceeded = 4,
    /// 5.
    NotFound = 5,
    /// 6.
    AlreadyExists = 6,
    /// 7.
    PermissionDenied = 7,
    /// 8.
    ResourceExhausted = 8,
    /// 9.
    FailedPrecondition = 9,
    /// 10.
    Aborted = 10,
    /// 11.
    OutOfRange = 11,
    /// 12.
    Unimplemented = 12,
    /// 13.
    Internal = 13,
    /// 14.
    Unavailable = 14,
    /// 15.
    DataLoss = 15,
    /// 16.
    Unauthenticated = 16,
}

impl Code {
    /// Every code, by value.
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Canceled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The wire value.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// The code for a wire value; values above 16 are `Unknown`, as gRPC clients treat them.
    pub fn from_u32(value: u32) -> Code {
        Code::ALL.get(value as usize).copied().unwrap_or(Code::Unknown)
    }

    /// The code's name as the gRPC spec writes it (`RESOURCE_EXHAUSTED`).
    pub const fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Canceled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The HTTP status grpc-gateway answers with for this code (its `HTTPStatusFromCode`).
    pub const fn http_status(self) -> u16 {
        match self {
            Code::Ok => 200,
            Code::Canceled => 408,
            Code::Unknown => 500,
            Code::InvalidArgument => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::FailedPrecondition => 400,
            Code::Aborted => 409,
            Code::OutOfRange => 400,
            Code::Unimplemented => 501,
            Code::Internal => 500,
            Code::Unavailable => 503,
            Code::DataLoss => 500,
            Code::Unauthenticated => 401,
        }
    }
}

/// A status to end a call with: a code and its (unencoded) message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// `grpc-status`.
    pub code: Code,
    /// `grpc-message`, before percent-encoding.
    pub message: String,
}

impl Status {
    /// A status from its parts.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status { code, message: message.into() }
    }

    /// The `grpc-status` trailer value (decimal).
    pub fn grpc_status_value(&self) -> String {
        format!("{}", self.code.as_u32())
    }

    /// The `grpc-message` trailer value, percent-encoded.
    pub fn grpc_message_value(&self) -> String {
        let mut out = String::new();
        encode_grpc_message(&self.message, &mut out);
        out
    }

    /// grpc-go's answer to a request whose `grpc-encoding` names a compressor this server does
    /// not have (oxcd has none): `Unimplemented`.
    pub fn unsupported_encoding(encoding: &str) -> Status {
        Status::new(
            Code::Unimplemented,
            format!("grpc: Decompressor is not installed for grpc-encoding \"{encoding}\""),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_trailer_values() {
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(code.as_u32() as usize, i);
            assert_eq!(Code::from_u32(i as u32), *code);
        }
        assert_eq!(Code::from_u32(17), Code::Unknown);
        assert_eq!(Code::ResourceExhausted.name(), "RESOURCE_EXHAUSTED");
        assert_eq!(Code::Unauthenticated.http_status(), 401);
        let status = Status::new(Code::FailedPrecondition, "etcdserver: 100% full\n");
        assert_eq!(status.grpc_status_value(), "9");
        assert_eq!(status.grpc_message_value(), "etcdserver: 100%25 full%0A");
    }
}
