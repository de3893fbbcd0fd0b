/**
 * Names for the bytes of the PostgreSQL v3 protocol.
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 *
 * The same tag byte means different things in each direction ('D' is Describe from the client and
 * DataRow from the server), so the two directions have separate tables.
 */

/** StartupMessage protocol version 3.0 (major 3 in the high 16 bits). */
export const PROTOCOL_3_0 = 196608;
/** Special "protocol versions" of untagged startup-phase requests. */
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

/** Messages the client (frontend) sends. */
export const FE = {
  Bind: 0x42, // 'B'
  Close: 0x43, // 'C'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyFail: 0x66, // 'f'
  Describe: 0x44, // 'D'
  Execute: 0x45, // 'E'
  Flush: 0x48, // 'H'
  FunctionCall: 0x46, // 'F'
  Parse: 0x50, // 'P'
  /** PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse all share 'p'. */
  Password: 0x70, // 'p'
  Query: 0x51, // 'Q'
  Sync: 0x53, // 'S'
  Terminate: 0x58, // 'X'
} as const;

/** Messages the server (backend) sends. */
export const BE = {
  Authentication: 0x52, // 'R'
  BackendKeyData: 0x4b, // 'K'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  CommandComplete: 0x43, // 'C'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  CopyBothResponse: 0x57, // 'W'
  DataRow: 0x44, // 'D'
  EmptyQueryResponse: 0x49, // 'I'
  ErrorResponse: 0x45, // 'E'
  FunctionCallResponse: 0x56, // 'V'
  NegotiateProtocolVersion: 0x76, // 'v'
  NoData: 0x6e, // 'n'
  NoticeResponse: 0x4e, // 'N'
  NotificationResponse: 0x41, // 'A'
  ParameterDescription: 0x74, // 't'
  ParameterStatus: 0x53, // 'S'
  ParseComplete: 0x31, // '1'
  PortalSuspended: 0x73, // 's'
  ReadyForQuery: 0x5a, // 'Z'
  RowDescription: 0x54, // 'T'
} as const;

/** Authentication request codes (the Int32 after 'R'). */
export const AUTH = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/** Single-byte field codes of ErrorResponse / NoticeResponse. */
export const FIELD = {
  Severity: 0x53, // 'S' localized
  SeverityV: 0x56, // 'V' never localized
  Code: 0x43, // 'C'
  Message: 0x4d, // 'M'
  Detail: 0x44, // 'D'
  Hint: 0x48, // 'H'
  Position: 0x50, // 'P'
  InternalPosition: 0x70, // 'p'
  InternalQuery: 0x71, // 'q'
  Where: 0x57, // 'W'
  Schema: 0x73, // 's'
  Table: 0x74, // 't'
  Column: 0x63, // 'c'
  DataType: 0x64, // 'd'
  Constraint: 0x6e, // 'n'
  File: 0x46, // 'F'
  Line: 0x4c, // 'L'
  Routine: 0x52, // 'R'
} as const;

/** Transaction status byte of ReadyForQuery. */
export type TxStatus = 'I' | 'T' | 'E';

/** PostgreSQL caps the startup packet at 10 000 bytes and auth packets at 65 535. */
export const MAX_STARTUP_PACKET = 10_000;
export const MAX_AUTH_PACKET = 65_535;
