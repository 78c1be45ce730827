package codes

import (
	"net/http"

	"github.com/fifthwheel/fifthwheel/frame"
)

// The gateway's reason codes beyond package frame's, by area. The
// catalogue below gives each its meaning, status, severity and kind.
const (
	// Frame admission: the gateway's stateful checks of a verified frame.
	VehicleMismatch       = "vehicle_mismatch"
	VehicleUnknown        = "vehicle_unknown"
	VehicleSuspended      = "vehicle_suspended"
	RetiredKID            = "retired_kid"
	Replay                = "replay"
	StaleCounter          = "stale_counter"
	EpochNotAuthorized    = "epoch_not_authorized"
	ClockSkew             = "clock_skew"
	FrameKindNotAllowed   = "kind_not_allowed"
	FrameAccepted         = "frame_accepted"
	FrameDuplicate        = "frame_duplicate"
	FramesAcceptedSummary = "frames_accepted_summary"
	FramesPurged          = "frames_purged"

	// Vehicle session.
	SessionEstablished       = "session_established"
	SessionHandshakeTimeout  = "session_handshake_timeout"
	SessionSuperseded        = "session_superseded"
	SessionClosedCommLost    = "session_closed_comm_lost"
	SessionClosed            = "session_closed"
	SessionClosedShutdown    = "session_closed_shutdown"
	SessionProtocolViolation = "session_protocol_violation"
	SessionResumeSent        = "session_resume_sent"
	SessionLimit             = "session_limit"
	GatewayOverloaded        = "gateway_overloaded"
	GatewayShutdown          = "gateway_shutdown"
	BadUpgrade               = "bad_upgrade"
	BinaryMessage            = "binary_message"
	UnexpectedKind           = "unexpected_kind"
	NonceMismatch            = "nonce_mismatch"
	KIDChanged               = "kid_changed"
	ReadTimeout              = "read_timeout"
	Goodbye                  = "goodbye"
	VehicleForgotten         = "vehicle_forgotten"

	// Command answers: the reason of a vehicle's rejected command_ack
	// (package agent's verdicts; docs/PROTOCOL.md "Commands").
	CommandWrongVehicle = "command_wrong_vehicle"
	CommandSeqRollback  = "command_seq_rollback"
	CommandConflict     = "command_conflict"
	CommandInfeasible   = "command_infeasible"
	CommandUnsupported  = "command_unsupported"
	CommandHandlerError = "command_handler_error"
	CommandInterrupted  = "command_interrupted"

	// Batch path.
	MalformedBatch = "malformed_batch"
	TooManyFrames  = "too_many_frames"
	BatchTooDeep   = "batch_too_deep"

	// Any HTTP route.
	Unauthenticated           = "unauthenticated"
	ClientCertificateRequired = "client_certificate_required"
	Forbidden                 = "forbidden"
	NotFound                  = "not_found"
	MethodNotAllowed          = "method_not_allowed"
	UnsupportedMediaType      = "unsupported_media_type"
	BodyTooLarge              = "body_too_large"
	BadVehicleID              = "bad_vehicle_id"
	BadQuery                  = "bad_query"
	FramePurged               = "frame_purged"
	RateLimited               = "rate_limited"
	GatewayBusy               = "gateway_busy"
	StoreUnavailable          = "store_unavailable"
	ShuttingDown              = "shutting_down"
	NotImplemented            = "not_implemented"
	Internal                  = "internal"

	// TLS handshakes, admission of connections, live revocation.
	TLSNoClientCert               = "tls_no_client_cert"
	TLSUnknownAuthority           = "tls_unknown_authority"
	TLSCertExpired                = "tls_cert_expired"
	TLSCertNotYetValid            = "tls_cert_not_yet_valid"
	TLSBadCertificate             = "tls_bad_certificate"
	TLSProtocolVersion            = "tls_protocol_version"
	TLSBadSignature               = "tls_bad_signature"
	TLSHandshakeFailed            = "tls_handshake_failed"
	TLSNoVerifiedChain            = "tls_no_verified_chain"
	CertIssuerNotTrusted          = "cert_issuer_not_trusted"
	CertNoIdentity                = "cert_no_identity"
	CertProfileMismatch           = "cert_profile_mismatch"
	TLSKindNotAllowed             = "tls_kind_not_allowed"
	TLSCertRevoked                = "tls_cert_revoked"
	RevocationStale               = "revocation_stale"
	TLSAccepted                   = "tls_accepted"
	EventSinkFailed               = "event_sink_failed"
	TLSAnonymous                  = "tls_anonymous"
	AdmissionSourceLimit          = "admission_source_limit"
	AdmissionGlobalLimit          = "admission_global_limit"
	AdmissionUnauthenticatedLimit = "admission_unauthenticated_limit"
	TLSClientHelloTimeout         = "tls_client_hello_timeout"
	AdmissionOverloaded           = "admission_overloaded"
	SessionClosedRevoked          = "session_closed_revoked"
	SessionClosedSuspended        = "session_closed_suspended"

	// TMS access: the token endpoint, access tokens, roles, carrier scope
	// and the front door of the TMS listener.
	AccessTokenIssued            = "access_token_issued"
	AccessTokenMissing           = "access_token_missing"
	AccessTokenInvalid           = "access_token_invalid"
	AccessTokenMalformed         = "access_token_malformed"
	AccessTokenTooLarge          = "access_token_too_large"
	AccessTokenAlgNotAllowed     = "access_token_alg_not_allowed"
	AccessTokenUnknownKID        = "access_token_unknown_kid"
	AccessTokenBadSignature      = "access_token_bad_signature"
	AccessTokenExpired           = "access_token_expired"
	AccessTokenNotYetValid       = "access_token_not_yet_valid"
	AccessTokenWrongIssuer       = "access_token_wrong_issuer"
	AccessTokenWrongAudience     = "access_token_wrong_audience"
	AccessTokenClaimsInvalid     = "access_token_claims_invalid"
	AccessTokenUnbound           = "access_token_unbound"
	AccessTokenBindingMismatch   = "access_token_binding_mismatch"
	AccessTokenPrincipalInactive = "access_token_principal_inactive"
	AccessRoleRequired           = "access_role_required"
	AccessScopeRequired          = "access_scope_required"
	AccessOtherCarrier           = "access_other_carrier"
	AccessSourceNotAllowed       = "access_source_not_allowed"
	AccessRiskTooHigh            = "access_risk_too_high"
	AccessRateLimited            = "access_rate_limited"
	OAuthInvalidRequest          = "oauth_invalid_request"
	OAuthUnsupportedGrantType    = "oauth_unsupported_grant_type"
	OAuthInvalidClient           = "oauth_invalid_client"
	OAuthInvalidScope            = "oauth_invalid_scope"
	TokenKeyRotated              = "token_key_rotated"
	TokenKeyUnavailable          = "token_key_unavailable"

	// Commands: the risk policy, approvals, the state machine and the
	// TMS API's Idempotency-Key (package command).
	CommandCreated                  = "command_created"
	CommandInvalid                  = "command_invalid"
	CommandApprovalRecorded         = "command_approval_recorded"
	CommandApprovalRefusedSelf      = "command_approval_refused_self"
	CommandApprovalRefusedDuplicate = "command_approval_refused_duplicate"
	CommandApprovalRefusedRole      = "command_approval_refused_role"
	CommandApprovalRefusedState     = "command_approval_refused_state"
	CommandApprovalExpired          = "command_approval_expired"
	CommandApproved                 = "command_approved"
	CommandQueued                   = "command_queued"
	CommandDelivered                = "command_delivered"
	CommandDeliveryRefused          = "command_delivery_refused"
	CommandAccepted                 = "command_accepted"
	CommandRejected                 = "command_rejected"
	CommandCancelled                = "command_cancelled"
	CommandCancelRefused            = "command_cancel_refused"
	CommandExpired                  = "command_expired"
	CommandStateConflict            = "command_state_conflict"
	WebhookDeliveryFailed           = "webhook_delivery_failed"
	WebhookDeadLettered             = "webhook_dead_lettered"
	WebhookSet                      = "webhook_set"
	WebhookCleared                  = "webhook_cleared"
	IdempotencyKeyReused            = "idempotency_key_reused"
	IdempotencyKeyRequired          = "idempotency_key_required"
	TenderAccepted                  = "tender_accepted"
	TenderDeclined                  = "tender_declined"
	TenderInvalid                   = "tender_invalid"
	TenderConflict                  = "tender_conflict"
	TenderNotAccepted               = "tender_not_accepted"
	TenderCancelled                 = "tender_cancelled"
	TenderChangeAfterDispatch       = "tender_change_after_dispatch"
	RouteRevisionRequired           = "route_revision_required"
	RouteRevisionMismatch           = "route_revision_mismatch"

	// Tracking: stop events and shipment status (package tracking).
	StopEventNotDispatched  = "stop_event_not_dispatched"
	StopEventUnknownStop    = "stop_event_unknown_stop"
	StopEventStatusMismatch = "stop_event_status_mismatch"
	ShipmentStatusRecorded  = "shipment_status_recorded"

	// Enrollment and renewal.
	RequestTooLarge     = "request_too_large"
	MalformedRequest    = "malformed_request"
	KIDConflict         = "kid_conflict"
	CSRTooLarge         = "csr_too_large"
	CSRMalformed        = "csr_malformed"
	CSRBadSignature     = "csr_bad_signature"
	CSRKeyType          = "csr_key_type"
	CSRIdentityMismatch = "csr_identity_mismatch"
	TokenMalformed      = "token_malformed"
	TokenUnknown        = "token_unknown"
	TokenUsed           = "token_used"
	TokenExpired        = "token_expired"
	RenewCertRevoked    = "renew_cert_revoked"
	RenewCertExpired    = "renew_cert_expired"
	RenewCertUnknown    = "renew_cert_unknown"
	RenewKindNotAllowed = "renew_kind_not_allowed"

	// Fleet CA and operator PKI actions.
	CAInitialized       = "ca_initialized"
	CertIssued          = "cert_issued"
	CertEnrolled        = "cert_enrolled"
	CertRenewed         = "cert_renewed"
	CertRevoked         = "cert_revoked"
	GatewayKeyAdded     = "gateway_key_added"
	GatewayKeyPromoted  = "gateway_key_promoted"
	GatewayKeyDropped   = "gateway_key_dropped"
	CertAlreadyRevoked  = "cert_already_revoked"
	CertUnknown         = "cert_unknown"
	PrincipalRevoked    = "principal_revoked"
	JoinTokenCreated    = "join_token_created"
	IntermediateAdded   = "intermediate_added"
	IntermediateIssuing = "intermediate_issuing"
	IntermediateRetired = "intermediate_retired"
	CRLPublished        = "crl_published"
	IssueInvalid        = "issue_invalid"
	OCSPRequestTooLarge = "ocsp_request_too_large"

	// Registry.
	VehicleRegistered     = "vehicle_registered"
	ClientRegistered      = "client_registered"
	ClientStatusChanged   = "client_status_changed"
	OperatorRegistered    = "operator_registered"
	OperatorStatusChanged = "operator_status_changed"
	RolesChanged          = "roles_changed"
	ClientAccessChanged   = "client_access_changed"
	VehicleCarrierChanged = "vehicle_carrier_changed"
	VehicleStatusChanged  = "vehicle_status_changed"
	FrameKeyRegistered    = "frame_key_registered"
	FrameKeyRefused       = "frame_key_refused"
	FrameKeyRetired       = "frame_key_retired"
	EpochAdvanced         = "epoch_advanced"

	// Liveness.
	VehicleOnline         = "vehicle_online"
	VehicleSuspect        = "vehicle_suspect"
	CommLost              = "comm_lost"
	VehicleSafeState      = "vehicle_safe_state"
	VehicleOffline        = "vehicle_offline"
	LivenessEventsDropped = "liveness_events_dropped"
	LivenessVehicleLimit  = "liveness_vehicle_limit"

	// Plausibility findings.
	SpeedDisagreement    = "speed_disagreement"
	PositionJump         = "position_jump"
	GNSSFixLost          = "gnss_fix_lost"
	OutsideOperatingArea = "outside_operating_area"

	// The audit log (package audit).
	AuditLogInconsistent = "audit_log_inconsistent"
	AuditItemPending     = "audit_item_pending"

	// The gateway process.
	GatewayStarted = "gateway_started"
	GatewayStopped = "gateway_stopped"
	StoreMigrated  = "store_migrated"

	// Forensics: bundles of a vehicle's evidence (package forensics).
	ForensicBundleExported = "forensic_bundle_exported"

	// Detection: the rule engine over the event stream (package detect).
	DetectionFinding      = "detection_finding"
	DetectionRulesLoaded  = "detection_rules_loaded"
	DetectionRulesRefused = "detection_rules_refused"
	// Incidents: findings grouped into incidents, their lifecycle, clocks
	// and containment (package incident).
	IncidentOpened           = "incident_opened"
	IncidentAcknowledged     = "incident_acknowledged"
	IncidentContained        = "incident_contained"
	IncidentResolved         = "incident_resolved"
	IncidentClockOverdue     = "incident_clock_overdue"
	IncidentNotificationSent = "incident_notification_sent"
	IncidentNoteAdded        = "incident_note_added"
	IncidentContainment      = "incident_containment_action"
	IncidentStateConflict    = "incident_state_conflict"
	IncidentInvalid          = "incident_invalid"
	VehicleCommandsHeld      = "vehicle_commands_held"
	IncidentsPurged          = "incidents_purged"
	// The SIEM sinks (package siem).
	SIEMDeadLettered = "siem_dead_lettered"
)

// Short names for the table.
const (
	info   = SeverityInfo
	low    = SeverityLow
	medium = SeverityMedium
	high   = SeverityHigh

	transient   = KindTransient
	protocol    = KindProtocol
	notEnrolled = KindNotEnrolled
	suspended   = KindSuspended
	revoked     = KindRevoked
	expired     = KindExpired
)

// catalogue is every code, grouped by area in the order of Areas. A test
// checks it against the constants above, package frame's codes and
// docs/PROTOCOL.md.
var catalogue = [...]Entry{
	// Package frame (steps 1-10 of docs/PROTOCOL.md "Processing order").
	frameCode(frame.CodeTooLarge, 0, medium, protocol, "The envelope is over 17,408 bytes, its frame member over 16,384 bytes, or a telemetry `ext` over 12,288 bytes (on the session: a message over the read limit)."),
	frameCode(frame.CodeInvalidUTF8, 0, medium, protocol, "The bytes are not valid UTF-8, or a string escapes a lone UTF-16 surrogate."),
	frameCode(frame.CodeBadJSON, 0, medium, protocol, "The bytes are not exactly one JSON value: syntax error, truncation, comment, trailing data."),
	frameCode(frame.CodeDuplicateMember, 0, medium, protocol, "An object has two members with the same (unescaped) name."),
	frameCode(frame.CodeTooDeep, 0, medium, protocol, "Objects and arrays nest deeper than the limit (7 in an envelope, 6 in a frame, 5 in a telemetry `ext`)."),
	frameCode(frame.CodeNumberOutOfRange, 0, medium, protocol, "A number is not finite as an IEEE 754 double (`1e400`), or an integer member is outside 0 … 2^53−1."),
	frameCode(frame.CodeUnknownMember, 0, medium, protocol, "A member the schema does not define, in the envelope or the frame (outside `ext`)."),
	frameCode(frame.CodeMissingMember, 0, medium, protocol, "A required member is absent (`frame`, `sig`, or a frame member; `alg` and `kid` have their own codes)."),
	frameCode(frame.CodeSchema, 0, medium, protocol, "A member has the wrong JSON type, or a value outside its documented range, set or syntax (where no more specific code applies)."),
	frameCode(frame.CodeNotCanonical, 0, medium, protocol, "The frame bytes are not in RFC 8785 canonical form, so they are not what the sender signed."),
	frameCode(frame.CodeMissingAlg, 0, medium, protocol, "The envelope has no `alg`. There is no default."),
	frameCode(frame.CodeAlgNotAllowed, 0, medium, protocol, "`alg` is not `Ed25519`, `ES256` or `HS256` (`none` included)."),
	frameCode(frame.CodeMissingKID, 0, medium, protocol, "The envelope has no `kid`, or it is empty. There is no default."),
	frameCode(frame.CodeBadKID, 0, medium, protocol, "`kid` is longer than 64 characters or has characters outside `[A-Za-z0-9._:-]`."),
	frameCode(frame.CodeBadSigEncoding, 0, medium, protocol, "`sig` is not canonical unpadded base64url, or its decoded length is wrong for `alg`."),
	frameCode(frame.CodeUnknownKID, 0, medium, notEnrolled, "No key is registered under `kid` for the sending vehicle (a retired one is `retired_kid`). Decided by the receiver's key registry, failing closed."),
	frameCode(frame.CodeAlgMismatch, 0, high, protocol, "The key registered under `kid` is for another algorithm than `alg`: a misconfiguration or an algorithm-confusion attempt."),
	frameCode(frame.CodeBadSignature, 0, high, protocol, "The signature does not verify over the frame bytes with the key registered under `kid`."),
	frameCode(frame.CodeUnsupportedVersion, 0, medium, protocol, "The frame's `v` is not `1`."),
	frameCode(frame.CodeUnknownKind, 0, medium, protocol, "The frame's `kind` is not one this version defines."),
	frameCode(frame.CodeBadTS, 0, medium, protocol, "`ts` is not RFC 3339 UTC with exactly millisecond precision in years 2000 … 9999."),
	frameCode(frame.CodeBadKey, http.StatusBadRequest, low, protocol, "A key was refused at registration (see [Keys](#keys)). Never sent for an envelope."),

	// Frame admission.
	{Code: VehicleMismatch, Area: AreaAdmission, Severity: high, Kind: protocol,
		Meaning: "The frame's `vehicle_id` is not the vehicle the sender's certificate names."},
	{Code: VehicleUnknown, Area: AreaAdmission, Severity: medium, Kind: notEnrolled,
		Meaning: "The certificate's vehicle is not in the registry."},
	{Code: VehicleSuspended, Area: AreaAdmission, Status: http.StatusForbidden, Severity: medium, Kind: suspended,
		Meaning: "The vehicle is suspended or retired by an operator; its live sessions are closed with it (4005)."},
	{Code: RetiredKID, Area: AreaAdmission, Severity: medium, Kind: notEnrolled,
		Meaning: "The key registered under `kid` is retired."},
	{Code: Replay, Area: AreaAdmission, Severity: high, Kind: protocol,
		Meaning: "The vehicle's (epoch, seq) was accepted before with other frame bytes."},
	{Code: StaleCounter, Area: AreaAdmission, Severity: medium, Kind: protocol,
		Meaning: "(epoch, seq) is not newer than the vehicle's last accepted frame (nor within the out-of-order window)."},
	{Code: EpochNotAuthorized, Area: AreaAdmission, Severity: medium, Kind: protocol,
		Meaning: "`epoch` is not the one an operator authorized for the vehicle."},
	{Code: ClockSkew, Area: AreaAdmission, Severity: medium, Kind: protocol,
		Meaning: "`ts` is outside the allowed window around the gateway's clock (live frames), or in its future (any frame)."},
	{Code: FrameKindNotAllowed, Area: AreaAdmission, Severity: medium, Kind: protocol,
		Meaning: "This path does not take frames of this kind (a heartbeat on the batch path)."},
	{Code: FrameAccepted, Area: AreaAdmission,
		Meaning: "Not an event: the `fifthwheel_frames_total` label of a frame accepted and durable as its frame row (accepted frames are summarized per vehicle in `frames_accepted_summary`)."},
	{Code: FrameDuplicate, Area: AreaAdmission, Severity: low,
		Meaning: "Event: an exact re-send of an accepted frame, answered as a duplicate and not stored again."},
	{Code: FramesAcceptedSummary, Area: AreaAdmission, Severity: info,
		Meaning: "Event: one per vehicle and `telemetry.accepted_summary_interval` with frames stored in it (and at shutdown): counts by kind, source and assurance, those with findings, the first and last (epoch, seq) and frame times."},

	{Code: FramesPurged, Area: AreaAdmission, Severity: info,
		Meaning: "Event: one per retention run that purged anything (serve every 10 minutes, or `fifthwheel retention purge`): how many frame payloads older than `before` were emptied; their hashes, key ids and verdicts are kept (docs/OPERATIONS.md, Retention)."},

	// Vehicle session.
	{Code: SessionEstablished, Area: AreaSession, Severity: info,
		Meaning: "Event: a vehicle completed the session handshake."},
	{Code: SessionHandshakeTimeout, Area: AreaSession, Severity: medium, Kind: transient,
		Meaning: "The handshake did not complete within the handshake timeout of the upgrade (close 4002)."},
	{Code: SessionSuperseded, Area: AreaSession, Severity: medium, Kind: transient,
		Meaning: "A newer session of the vehicle completed its handshake; this one is closed (4001)."},
	{Code: SessionClosedCommLost, Area: AreaSession, Severity: medium,
		Meaning: "Event: a session was closed because the liveness monitor declared comm loss."},
	{Code: SessionClosed, Area: AreaSession, Severity: info,
		Meaning: "Event: a session ended (attribute `cause`: `goodbye`, `transport` or `read_timeout`)."},
	{Code: SessionClosedShutdown, Area: AreaSession, Severity: info,
		Meaning: "Event: a session was closed because the gateway is shutting down."},
	{Code: SessionProtocolViolation, Area: AreaSession, Severity: medium,
		Meaning: "Event: the vehicle broke the protocol after the handshake; attribute `reason` is the close reason sent."},
	{Code: SessionResumeSent, Area: AreaSession, Severity: medium,
		Meaning: "Event: the gateway sent a resume (attribute `by`: `policy` or the operator)."},
	{Code: SessionLimit, Area: AreaSession, Status: http.StatusServiceUnavailable, Severity: medium, Kind: transient,
		Meaning: "The gateway holds its maximum of sessions (`Retry-After`)."},
	{Code: GatewayOverloaded, Area: AreaSession, Status: http.StatusServiceUnavailable, Severity: medium, Kind: transient,
		Meaning: "The gateway answers its connected vehicles' frames too slowly to take another session (`Retry-After`, spread at random)."},
	{Code: GatewayShutdown, Area: AreaSession, Status: http.StatusServiceUnavailable, Severity: medium, Kind: transient,
		Meaning: "The gateway is stopping: the upgrade is refused, or the session closed (1001); reconnect."},
	{Code: BadUpgrade, Area: AreaSession, Status: http.StatusBadRequest, Severity: low, Kind: protocol,
		Meaning: "Not a `GET` WebSocket upgrade offering the subprotocol `fifthwheel.v1` (or the agent got a 101 without it)."},
	{Code: BinaryMessage, Area: AreaSession, Severity: medium, Kind: protocol,
		Meaning: "A binary WebSocket message: every message is one envelope, as text (close 4004)."},
	{Code: UnexpectedKind, Area: AreaSession, Severity: medium, Kind: protocol,
		Meaning: "A frame of a kind not allowed at this point of the session."},
	{Code: NonceMismatch, Area: AreaSession, Severity: high, Kind: protocol,
		Meaning: "The `challenge_response` does not carry the challenge's nonce."},
	{Code: KIDChanged, Area: AreaSession, Severity: medium, Kind: protocol,
		Meaning: "The `challenge_response` is signed under another `kid` than the hello."},
	{Code: ReadTimeout, Area: AreaSession, Kind: transient,
		Meaning: "Close reason (4000): the gateway heard nothing from the vehicle for 3 heartbeat intervals + 250 ms."},
	{Code: Goodbye, Area: AreaSession,
		Meaning: "Close reason (1000) a vehicle sends when it ends its session on purpose."},
	{Code: VehicleForgotten, Area: AreaSession, Severity: medium, Kind: notEnrolled,
		Meaning: "The liveness monitor forgot the vehicle (decommissioned or deleted); its session is closed (4005)."},

	// Command answers (a vehicle's command_ack reasons; bad_signature and
	// unknown_kid, package frame's, answer a command whose signature fails).
	{Code: CommandWrongVehicle, Area: AreaCommandAck, Severity: high, Kind: protocol,
		Meaning: "The command's `vehicle_id` is not the answering vehicle: a command for another truck (an authenticity failure: the truck enters safe state)."},
	{Code: CommandSeqRollback, Area: AreaCommandAck, Severity: high, Kind: protocol,
		Meaning: "The command's `cmd_seq` is not above the highest the vehicle answered, and it is no redelivery of an answered command: a replayed or rolled-back counter (safe state)."},
	{Code: CommandConflict, Area: AreaCommandAck, Severity: high, Kind: protocol,
		Meaning: "A `cmd_seq` or `command_id` the vehicle answered before arrives with other content (safe state)."},
	{Code: CommandInfeasible, Area: AreaCommandAck, Severity: low, Kind: protocol,
		Meaning: "The vehicle's AV stack declined the command: it cannot carry it out (route, load, hours, equipment). A business answer: no safe state."},
	{Code: CommandUnsupported, Area: AreaCommandAck, Severity: low, Kind: protocol,
		Meaning: "The vehicle's AV stack does not take commands of this `command_type` (or has no command handler)."},
	{Code: CommandHandlerError, Area: AreaCommandAck, Severity: medium, Kind: protocol,
		Meaning: "The vehicle's command handler failed (it panicked, or its answer cannot go on the wire): the command is not accepted and never run again; check the truck before sending a new one."},
	{Code: CommandInterrupted, Area: AreaCommandAck, Severity: medium, Kind: protocol,
		Meaning: "The vehicle restarted while its handler ran this command: it may have executed, and the vehicle never runs it again; check the truck's state before sending a new command."},

	// Batch path.
	{Code: MalformedBatch, Area: AreaBatch, Status: http.StatusBadRequest, Severity: medium, Kind: protocol,
		Meaning: "The body is not one I-JSON object `{\"frames\":[...]}` with nothing else."},
	{Code: TooManyFrames, Area: AreaBatch, Status: http.StatusRequestEntityTooLarge, Severity: medium, Kind: protocol,
		Meaning: "The batch has more than 256 frames."},
	{Code: BatchTooDeep, Area: AreaBatch, Status: http.StatusBadRequest, Severity: medium, Kind: protocol,
		Meaning: "The body nests deeper than 9 levels (the batch object, its array and an envelope at its own limit)."},

	// Any HTTP route.
	{Code: Unauthenticated, Area: AreaHTTP, Status: http.StatusForbidden, Severity: low, Kind: notEnrolled,
		Meaning: "The request has no verified certificate of the kind this route serves (a vehicle's on the session and batch paths)."},
	{Code: ClientCertificateRequired, Area: AreaHTTP, Status: http.StatusForbidden, Severity: low, Kind: protocol,
		Meaning: "A request without a client certificate on a route that needs one (every route but enrollment)."},
	{Code: Forbidden, Area: AreaHTTP, Status: http.StatusForbidden, Kind: protocol,
		Meaning: "The route needs a TMS client or operator certificate."},
	{Code: NotFound, Area: AreaHTTP, Status: http.StatusNotFound, Kind: protocol,
		Meaning: "No such endpoint, or no such resource on it."},
	{Code: MethodNotAllowed, Area: AreaHTTP, Status: http.StatusMethodNotAllowed, Kind: protocol,
		Meaning: "The endpoint does not take this method."},
	{Code: UnsupportedMediaType, Area: AreaHTTP, Status: http.StatusUnsupportedMediaType, Severity: low, Kind: protocol,
		Meaning: "The body is not of the media type the endpoint takes (`application/json`)."},
	{Code: BodyTooLarge, Area: AreaHTTP, Status: http.StatusRequestEntityTooLarge, Severity: medium, Kind: protocol,
		Meaning: "The body is over the route's size limit (1 MiB on the batch path)."},
	{Code: BadVehicleID, Area: AreaHTTP, Status: http.StatusBadRequest, Kind: protocol,
		Meaning: "The vehicle id in the path is malformed."},
	{Code: BadQuery, Area: AreaHTTP, Status: http.StatusBadRequest, Kind: protocol,
		Meaning: "A query parameter is malformed or out of range."},
	{Code: FramePurged, Area: AreaHTTP, Status: http.StatusGone, Kind: protocol,
		Meaning: "The frame's payload was purged by retention (`telemetry.retention`): its raw bytes and signature are gone; its hash, times, key id and verdict are kept (the frame views show `purged_at` and `frame_sha256`, no `frame`)."},
	{Code: RateLimited, Area: AreaHTTP, Status: http.StatusTooManyRequests, Severity: low, Kind: transient,
		Meaning: "A rate is exceeded (the vehicle's handshakes or frames, renewals per identity, requests without a certificate per source); retry after `Retry-After`. As a nack: refused before any check, nothing stored; send its telemetry again."},
	{Code: GatewayBusy, Area: AreaHTTP, Status: http.StatusTooManyRequests, Severity: low, Kind: transient,
		Meaning: "The gateway has its maximum of telemetry frames in flight (telemetry yields; heartbeats never get it): the batch (429, `Retry-After`) or the telemetry frame (nack) was refused before any check, nothing stored; send its telemetry again later."},
	{Code: StoreUnavailable, Area: AreaHTTP, Status: http.StatusServiceUnavailable, Severity: low, Kind: transient,
		Meaning: "A check could not complete (the store did not answer): refused, nothing changed; send the same again (as a nack or close 1013 too)."},
	{Code: ShuttingDown, Area: AreaHTTP, Status: http.StatusServiceUnavailable, Kind: transient,
		Meaning: "`/readyz`: the gateway is draining before it stops."},
	{Code: NotImplemented, Area: AreaHTTP, Status: http.StatusNotImplemented, Kind: protocol,
		Meaning: "The route is part of the API but not implemented in this version."},
	{Code: Internal, Area: AreaHTTP, Status: http.StatusInternalServerError, Kind: transient,
		Meaning: "An unexpected error; the answer carries no detail (the cause is in the gateway's log)."},

	// TLS handshakes, admission of connections, live revocation.
	{Code: TLSNoClientCert, Area: AreaTLS, Status: http.StatusUnauthorized, Severity: low, Kind: notEnrolled,
		Meaning: "The client sent no certificate where one is required."},
	{Code: TLSUnknownAuthority, Area: AreaTLS, Status: http.StatusForbidden, Severity: medium, Kind: notEnrolled,
		Meaning: "The certificate does not chain to a trusted intermediate (another CA, root-issued, a retired intermediate)."},
	{Code: TLSCertExpired, Area: AreaTLS, Status: http.StatusForbidden, Severity: low, Kind: expired,
		Meaning: "The certificate has expired."},
	{Code: TLSCertNotYetValid, Area: AreaTLS, Status: http.StatusForbidden, Severity: low, Kind: expired,
		Meaning: "The certificate is not valid yet (or a clock is wrong)."},
	{Code: TLSBadCertificate, Area: AreaTLS, Status: http.StatusForbidden, Severity: medium, Kind: protocol,
		Meaning: "Chain verification failed otherwise (EKU, constraints, signature, unparsable)."},
	{Code: TLSProtocolVersion, Area: AreaTLS, Severity: low, Kind: protocol,
		Meaning: "TLS 1.2 or older: the gateway speaks TLS 1.3 only."},
	{Code: TLSBadSignature, Area: AreaTLS, Severity: medium, Kind: protocol,
		Meaning: "CertificateVerify failed: a certificate presented without its private key."},
	{Code: TLSHandshakeFailed, Area: AreaTLS, Severity: low,
		Meaning: "Any other handshake failure: timeouts, resets, malformed records."},
	{Code: TLSNoVerifiedChain, Area: AreaTLS, Status: http.StatusUnauthorized, Severity: low, Kind: notEnrolled,
		Meaning: "No verified certificate chain where one is required."},
	{Code: CertIssuerNotTrusted, Area: AreaTLS, Status: http.StatusForbidden, Severity: low, Kind: notEnrolled,
		Meaning: "The certificate's intermediate is no longer trusted (retired since the session was resumed or the certificate issued)."},
	{Code: CertNoIdentity, Area: AreaTLS, Status: http.StatusForbidden, Severity: low, Kind: notEnrolled,
		Meaning: "The certificate has no, several or a malformed `urn:fifthwheel:` URI SAN."},
	{Code: CertProfileMismatch, Area: AreaTLS, Status: http.StatusForbidden, Severity: low, Kind: protocol,
		Meaning: "The certificate's EKU, CN or CA flag does not fit its kind of principal."},
	{Code: TLSKindNotAllowed, Area: AreaTLS, Status: http.StatusForbidden, Severity: medium, Kind: notEnrolled,
		Meaning: "A certificate of a kind this listener does not take (a vehicle certificate on the TMS listener)."},
	{Code: TLSCertRevoked, Area: AreaTLS, Status: http.StatusForbidden, Severity: high, Kind: revoked,
		Meaning: "The certificate or its intermediate is revoked."},
	{Code: RevocationStale, Area: AreaTLS, Status: http.StatusServiceUnavailable, Severity: high, Kind: transient,
		Meaning: "The gateway's revocation data is older than its maximum age: every certificate is refused (fail closed); close 1013."},
	{Code: TLSAccepted, Area: AreaTLS, Severity: info,
		Meaning: "Event: a handshake completed and the client proved possession of its certificate's key."},
	{Code: EventSinkFailed, Area: AreaTLS,
		Meaning: "A handshake's accept event could not be recorded: the connection is refused (events fail closed); no event."},
	{Code: TLSAnonymous, Area: AreaTLS, Severity: info,
		Meaning: "Event: a connection without a client certificate was admitted to the listener's anonymous routes (enrollment)."},
	{Code: AdmissionSourceLimit, Area: AreaTLS, Severity: low,
		Meaning: "Event: a connection was closed on accept: its source already had its maximum of handshakes in progress."},
	{Code: AdmissionGlobalLimit, Area: AreaTLS, Severity: low,
		Meaning: "Event: a connection was closed: the listener already had its maximum of handshakes in progress or of connections without a certificate."},
	{Code: AdmissionUnauthenticatedLimit, Area: AreaTLS, Severity: low,
		Meaning: "Event: a connection without a client certificate was closed: its source already had its maximum of them."},
	{Code: TLSClientHelloTimeout, Area: AreaTLS, Severity: low,
		Meaning: "Event: a connection sent no ClientHello in time and was closed."},
	{Code: AdmissionOverloaded, Area: AreaTLS, Severity: low,
		Meaning: "A new connection to the vehicle listener was closed on accept, before any TLS handshake, while the gateway answers its connected vehicles too slowly to take more; the vehicle dials again after its backoff."},
	{Code: SessionClosedRevoked, Area: AreaTLS, Severity: medium, Kind: revoked,
		Meaning: "A live connection was closed because its certificate was revoked (session close 4003)."},
	{Code: SessionClosedSuspended, Area: AreaTLS, Severity: medium,
		Meaning: "Event: a live connection of a vehicle an operator suspended or retired was closed (the vehicle gets `vehicle_suspended`)."},

	// TMS access.
	{Code: AccessTokenIssued, Area: AreaAccess, Severity: info,
		Meaning: "The token endpoint issued an access token bound to the caller's certificate (the event names its jti, scopes and expiry, never the token)."},
	{Code: AccessTokenMissing, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: low, Kind: notEnrolled,
		Meaning: "A TMS API request without an `Authorization: Bearer` access token."},
	{Code: AccessTokenInvalid, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: low, Kind: protocol,
		Meaning: "The one answer to every access token the gateway refuses (`WWW-Authenticate: Bearer error=\"invalid_token\"`): the caller is not told which check failed; the event records the `access_token_*` code that did. Get a new token over the same mTLS connection's certificate."},
	{Code: AccessTokenMalformed, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: medium, Kind: protocol,
		Meaning: "The access token is not a compact JWS of three base64url parts with a JSON header and payload."},
	{Code: AccessTokenTooLarge, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: medium, Kind: protocol,
		Meaning: "The access token (or the Authorization header) is over its size limit; it is refused before it is parsed."},
	{Code: AccessTokenAlgNotAllowed, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: high, Kind: protocol,
		Meaning: "The token's `alg` is not one the gateway signs with (`EdDSA`, `ES256`): `none` and `HS256` included."},
	{Code: AccessTokenUnknownKID, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: medium, Kind: notEnrolled,
		Meaning: "The token's `kid` names no token-signing key the gateway publishes."},
	{Code: AccessTokenBadSignature, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: high, Kind: protocol,
		Meaning: "The token's signature does not verify under the key its `kid` names: forged or tampered."},
	{Code: AccessTokenExpired, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: low, Kind: expired,
		Meaning: "The token's `exp` is past, beyond the 30 s leeway."},
	{Code: AccessTokenNotYetValid, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: medium, Kind: protocol,
		Meaning: "The token's `nbf` or `iat` is in the future, beyond the 30 s leeway."},
	{Code: AccessTokenWrongIssuer, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: medium, Kind: protocol,
		Meaning: "The token's `iss` is not this gateway's issuer."},
	{Code: AccessTokenWrongAudience, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: medium, Kind: protocol,
		Meaning: "The token's `aud` does not name this gateway's TMS API."},
	{Code: AccessTokenClaimsInvalid, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: medium, Kind: protocol,
		Meaning: "A required claim is missing or malformed (`sub`, `jti`, `iat`, `exp`, `scope`), or the token lives longer than the gateway issues."},
	{Code: AccessTokenUnbound, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: high, Kind: protocol,
		Meaning: "The token has no `cnf.x5t#S256` certificate binding (RFC 8705): the gateway accepts only bound tokens."},
	{Code: AccessTokenBindingMismatch, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: high, Kind: protocol,
		Meaning: "The token is bound to another certificate than the one of this TLS connection: a stolen or replayed token."},
	{Code: AccessTokenPrincipalInactive, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: medium, Kind: suspended,
		Meaning: "The token's principal is unknown, suspended, or its certificate revoked, since the token was issued."},
	{Code: AccessRoleRequired, Area: AreaAccess, Status: http.StatusForbidden, Severity: medium, Kind: protocol,
		Meaning: "The caller does not hold, now, a role the route needs (roles are read live, not from the token alone)."},
	{Code: AccessScopeRequired, Area: AreaAccess, Status: http.StatusForbidden, Severity: low, Kind: protocol,
		Meaning: "The access token was not issued with the scope the route needs."},
	{Code: AccessOtherCarrier, Area: AreaAccess, Status: http.StatusNotFound, Severity: medium, Kind: protocol,
		Meaning: "The vehicle belongs to another carrier than the caller's; the caller sees `not_found`, so ids do not leak."},
	{Code: AccessSourceNotAllowed, Area: AreaAccess, Status: http.StatusForbidden, Severity: medium, Kind: protocol,
		Meaning: "The request comes from an address outside the client's allowed source ranges."},
	{Code: AccessRiskTooHigh, Area: AreaAccess, Status: http.StatusForbidden, Severity: medium, Kind: transient,
		Meaning: "The request's risk score is above the threshold for a control route (recent failures, a new source, an unusual rate, outside hours)."},
	{Code: AccessRateLimited, Area: AreaAccess, Status: http.StatusTooManyRequests, Severity: low, Kind: transient,
		Meaning: "The client is over its request budget; retry after the Retry-After seconds."},
	{Code: OAuthInvalidRequest, Area: AreaAccess, Status: http.StatusBadRequest, Severity: low, Kind: protocol,
		Meaning: "The token request is malformed (RFC 6749 invalid_request): not a form, a parameter repeated or missing, a client secret offered."},
	{Code: OAuthUnsupportedGrantType, Area: AreaAccess, Status: http.StatusBadRequest, Severity: low, Kind: protocol,
		Meaning: "The grant type is not `client_credentials`."},
	{Code: OAuthInvalidClient, Area: AreaAccess, Status: http.StatusUnauthorized, Severity: medium, Kind: notEnrolled,
		Meaning: "The certificate names no active TMS client or operator, or `client_id` differs from it (RFC 8705 tls_client_auth)."},
	{Code: OAuthInvalidScope, Area: AreaAccess, Status: http.StatusBadRequest, Severity: low, Kind: protocol,
		Meaning: "A requested scope is unknown or not granted by the caller's roles, or the caller holds no role at all."},
	{Code: TokenKeyRotated, Area: AreaAccess, Severity: info,
		Meaning: "A token-signing key was created (the first, when a gateway starts on a store without one) or rotated by an operator; the old key stays published until its last token expires."},
	{Code: TokenKeyUnavailable, Area: AreaAccess, Status: http.StatusServiceUnavailable, Severity: high, Kind: transient,
		Meaning: "No token-signing key could be loaded or opened, so no token is issued and none verifies (fail closed)."},

	// Commands.
	{Code: CommandCreated, Area: AreaCommand, Severity: info,
		Meaning: "Event: a command was created (attributes: type, vehicle, risk class, approvals required and why); it waits for approvals (`pending_approval`) or is approved at once."},
	{Code: CommandInvalid, Area: AreaCommand, Status: http.StatusBadRequest, Severity: low, Kind: protocol,
		Meaning: "The command request is invalid: an unknown type, a payload over its size limit, an expiry in the past or too far ahead, a vehicle or requester missing."},
	{Code: CommandApprovalRecorded, Area: AreaCommand, Severity: info,
		Meaning: "Event: an approver's approval of a command was recorded (attributes: valid approvals now, approvals required)."},
	{Code: CommandApprovalRefusedSelf, Area: AreaCommand, Status: http.StatusForbidden, Severity: high, Kind: protocol,
		Meaning: "The requester of a command tried to approve it: approvals come from principals other than the requester (two-person rule)."},
	{Code: CommandApprovalRefusedDuplicate, Area: AreaCommand, Status: http.StatusConflict, Severity: medium, Kind: protocol,
		Meaning: "The principal already approved this command; one principal's approval counts once, however often it is given."},
	{Code: CommandApprovalRefusedRole, Area: AreaCommand, Status: http.StatusForbidden, Severity: medium, Kind: protocol,
		Meaning: "The principal does not hold the approver role now (roles are read live), so its approval is refused."},
	{Code: CommandApprovalRefusedState, Area: AreaCommand, Status: http.StatusConflict, Severity: low, Kind: protocol,
		Meaning: "The command is not waiting for approvals (approved already, cancelled, expired or beyond); nothing changed."},
	{Code: CommandApprovalExpired, Area: AreaCommand, Severity: low,
		Meaning: "Event: an approval older than the approval lifetime, or whose approver no longer holds the approver role, was not counted."},
	{Code: CommandApproved, Area: AreaCommand, Severity: info,
		Meaning: "Event: a command has the approvals its risk class requires, from distinct approvers other than the requester, all valid now."},
	{Code: CommandQueued, Area: AreaCommand, Severity: info,
		Meaning: "Event: a command was given its vehicle's next `cmd_seq` and a nonce and waits for delivery (reason `vehicle_offline` when the vehicle has no session)."},
	{Code: CommandDelivered, Area: AreaCommand, Severity: info,
		Meaning: "Event: a replica sent the signed command on the vehicle's session; from now on it may have executed."},
	{Code: CommandDeliveryRefused, Area: AreaCommand, Severity: medium,
		Meaning: "Event: a command was not delivered because it had expired (it moves to `expired`) or was no longer queued (cancelled, or delivered by another replica)."},
	{Code: CommandAccepted, Area: AreaCommand, Severity: info,
		Meaning: "Event: the vehicle's signed answer accepted the command."},
	{Code: CommandRejected, Area: AreaCommand, Severity: medium,
		Meaning: "Event: the vehicle's signed answer rejected the command (attribute `reason`); it did not execute."},
	{Code: CommandCancelled, Area: AreaCommand, Severity: info,
		Meaning: "Event: a command was cancelled before delivery; it never reaches the vehicle."},
	{Code: CommandCancelRefused, Area: AreaCommand, Status: http.StatusConflict, Severity: medium, Kind: protocol,
		Meaning: "The command was already delivered (it may have executed) or is final, so it can no longer be cancelled; send a new command to undo it."},
	{Code: CommandExpired, Area: AreaCommand, Severity: low, Kind: protocol,
		Meaning: "The command's `expires_at` passed before it could execute: the gateway expires a command not yet delivered (never delivered after), and a vehicle refuses one arriving past it by its own clock beyond its tolerance (5 s) in its command_ack; either way it did not execute."},
	{Code: CommandStateConflict, Area: AreaCommand, Status: http.StatusConflict, Severity: low, Kind: protocol,
		Meaning: "The command changed state meanwhile (another request or replica was first); read it again before deciding."},
	{Code: IdempotencyKeyReused, Area: AreaCommand, Status: http.StatusConflict, Severity: medium, Kind: protocol,
		Meaning: "The Idempotency-Key was used before for a request with another body; a retry must send the same body, a new request a new key."},

	// The TMS command API.
	{Code: IdempotencyKeyRequired, Area: AreaTMSAPI, Status: http.StatusBadRequest, Severity: low, Kind: protocol,
		Meaning: "A POST of the TMS API has no `Idempotency-Key` header, or its value is not 1 to 128 characters of `[A-Za-z0-9._:~-]`; nothing was done."},
	{Code: TenderAccepted, Area: AreaTMSAPI, Severity: info,
		Meaning: "Event: a load tender was stored and accepted (the 990-like answer `accept`): an original, or a change before dispatch (attribute `purpose` change, with its new `revision`)."},
	{Code: TenderDeclined, Area: AreaTMSAPI, Severity: low,
		Meaning: "Event: a load tender (an original, or a change: attribute `purpose`, with its `revision`) was stored and declined, with its reasons (`respond_by_passed`, `scac_mismatch`, `no_carrier`); it cannot be dispatched (`unknown_tender` was the reason for a change or cancel of an unknown tender before those answered 404 `not_found`)."},
	{Code: TenderInvalid, Area: AreaTMSAPI, Status: http.StatusBadRequest, Severity: low, Kind: protocol,
		Meaning: "The load tender is malformed (a member missing or out of range, an unknown time zone, stops out of order); it was not stored and is not a decline."},
	{Code: TenderConflict, Area: AreaTMSAPI, Status: http.StatusConflict, Severity: low, Kind: protocol,
		Meaning: "The tender cannot take this request in its present state: an original with a tender id the client has already (send a change or a cancel), a change of a cancelled tender, or a dispatch made from a tender that was changed or cancelled meanwhile (read it and dispatch again)."},
	{Code: TenderNotAccepted, Area: AreaTMSAPI, Status: http.StatusConflict, Severity: low, Kind: protocol,
		Meaning: "The dispatch names a tender that was declined or cancelled: only an accepted tender is dispatched."},
	{Code: TenderCancelled, Area: AreaTMSAPI, Severity: info,
		Meaning: "Event: a load tender was cancelled (purpose `cancel`): its commands not yet delivered were cancelled (attribute `cancelled`), those delivered or executed were not (`not_cancelled`: the load is in progress and is handled operationally). Attribute `already` is true for a cancel of a tender cancelled before, `incomplete` when its commands could not all be read or cancelled then (answered 503; a retry finishes)."},
	{Code: TenderChangeAfterDispatch, Area: AreaTMSAPI, Status: http.StatusConflict, Severity: low, Kind: protocol,
		Meaning: "A change of a tender a command was made from (it was dispatched): nothing changed. Cancel the tender and tender the load again, or send a route update for the vehicle."},
	{Code: RouteRevisionRequired, Area: AreaTMSAPI, Status: http.StatusPreconditionRequired, Severity: low, Kind: protocol,
		Meaning: "A route update without an `If-Match` header naming the route revision it replaces (one entity tag; `*` is not taken)."},
	{Code: RouteRevisionMismatch, Area: AreaTMSAPI, Status: http.StatusPreconditionFailed, Severity: low, Kind: protocol,
		Meaning: "The route update's `If-Match` is not the vehicle's current route revision (another update was first, or the vehicle has no route); read the route again."},

	// Webhooks.
	{Code: WebhookDeliveryFailed, Area: AreaWebhook, Severity: low, Kind: transient,
		Meaning: "A webhook POST to a client's URL failed (no 2xx answer, a redirect, a timeout, a refused address); the message is retried with back-off. The `reason` attribute says why."},
	{Code: WebhookDeadLettered, Area: AreaWebhook, Severity: medium,
		Meaning: "A webhook message was given up after its maximum attempts or age, or because its client has no webhook any more; it stays in the outbox as a dead letter."},
	{Code: WebhookSet, Area: AreaWebhook, Severity: medium,
		Meaning: "An operator set or replaced a TMS client's webhook (URL and secret): the client's command transitions and vehicle states are pushed there."},
	{Code: WebhookCleared, Area: AreaWebhook, Severity: medium,
		Meaning: "An operator removed a TMS client's webhook: nothing more is enqueued for it, and its pending messages become dead letters."},

	// Tracking.
	{Code: StopEventNotDispatched, Area: AreaTracking, Severity: high, Kind: protocol,
		Meaning: "A vehicle's `stop_event` names a load it has no accepted `dispatch` of (never dispatched, dispatched to another vehicle, or not accepted): refused (`nack`), nothing recorded for the TMS, an event about the vehicle."},
	{Code: StopEventUnknownStop, Area: AreaTracking, Severity: medium, Kind: protocol,
		Meaning: "A vehicle's `stop_event` names a `stop_seq` that none of its accepted `dispatch` and `route_update` commands of the load has: refused (`nack`), nothing recorded for the TMS."},
	{Code: StopEventStatusMismatch, Area: AreaTracking, Severity: medium, Kind: protocol,
		Meaning: "A vehicle's `stop_event` reports `loaded` at a delivery or `delivered` at a pickup: refused (`nack`), nothing recorded for the TMS."},
	{Code: ShipmentStatusRecorded, Area: AreaTracking, Severity: info,
		Meaning: "Event: a vehicle's stop event was recorded as a shipment status (its EDI 214 code in attribute `code`) and pushed to the tender's client as `shipment.status`."},

	// Enrollment and renewal.
	{Code: RequestTooLarge, Area: AreaEnrollment, Status: http.StatusRequestEntityTooLarge, Severity: low, Kind: protocol,
		Meaning: "The request body is over 9 KiB."},
	{Code: MalformedRequest, Area: AreaEnrollment, Status: http.StatusBadRequest, Severity: low, Kind: protocol,
		Meaning: "The body is not the strict JSON object the endpoint takes (unknown or duplicate members, a required one missing)."},
	{Code: KIDConflict, Area: AreaEnrollment, Status: http.StatusConflict, Severity: medium, Kind: protocol,
		Meaning: "The vehicle has another key under this `kid` (kids are never reused)."},
	{Code: CSRTooLarge, Area: AreaEnrollment, Status: http.StatusRequestEntityTooLarge, Severity: low, Kind: protocol,
		Meaning: "The certificate request is too large."},
	{Code: CSRMalformed, Area: AreaEnrollment, Status: http.StatusBadRequest, Severity: low, Kind: protocol,
		Meaning: "Not one PEM certificate request that parses."},
	{Code: CSRBadSignature, Area: AreaEnrollment, Status: http.StatusBadRequest, Severity: low, Kind: protocol,
		Meaning: "The certificate request's self-signature does not verify."},
	{Code: CSRKeyType, Area: AreaEnrollment, Status: http.StatusBadRequest, Severity: low, Kind: protocol,
		Meaning: "The key is not ECDSA P-256 or Ed25519."},
	{Code: CSRIdentityMismatch, Area: AreaEnrollment, Status: http.StatusForbidden, Severity: low, Kind: protocol,
		Meaning: "The request names another identity than the join token's or the presented certificate's."},
	{Code: TokenMalformed, Area: AreaEnrollment, Status: http.StatusUnauthorized, Severity: low, Kind: notEnrolled,
		Meaning: "Not a join token."},
	{Code: TokenUnknown, Area: AreaEnrollment, Status: http.StatusUnauthorized, Severity: low, Kind: notEnrolled,
		Meaning: "No such join token."},
	{Code: TokenUsed, Area: AreaEnrollment, Status: http.StatusUnauthorized, Severity: medium, Kind: notEnrolled,
		Meaning: "The join token was used already (single use)."},
	{Code: TokenExpired, Area: AreaEnrollment, Status: http.StatusUnauthorized, Severity: low, Kind: notEnrolled,
		Meaning: "The join token has expired."},
	{Code: RenewCertRevoked, Area: AreaEnrollment, Status: http.StatusForbidden, Severity: high, Kind: revoked,
		Meaning: "The certificate presented for renewal is revoked, or its principal was revoked after it was issued."},
	{Code: RenewCertExpired, Area: AreaEnrollment, Status: http.StatusUnauthorized, Severity: low, Kind: expired,
		Meaning: "The certificate presented for renewal is not valid now."},
	{Code: RenewCertUnknown, Area: AreaEnrollment, Status: http.StatusForbidden, Severity: low, Kind: notEnrolled,
		Meaning: "The certificate presented for renewal was not issued by this CA."},
	{Code: RenewKindNotAllowed, Area: AreaEnrollment, Status: http.StatusForbidden, Severity: low, Kind: protocol,
		Meaning: "This kind of certificate is not renewed online (gateway certificates are issued by operators)."},

	// Fleet CA and operator PKI actions.
	{Code: CAInitialized, Area: AreaPKI, Severity: info,
		Meaning: "Event: the fleet CA was created."},
	{Code: CertIssued, Area: AreaPKI, Severity: info,
		Meaning: "Event: an operator issued a certificate (or `serve` its gateway certificate)."},
	{Code: CertEnrolled, Area: AreaPKI, Severity: info,
		Meaning: "Event: a vehicle enrolled with a join token and got its certificate."},
	{Code: CertRenewed, Area: AreaPKI, Severity: info,
		Meaning: "Event: a certificate was renewed."},
	{Code: CertRevoked, Area: AreaPKI, Severity: medium,
		Meaning: "Event: a certificate was revoked."},
	{Code: GatewayKeyAdded, Area: AreaPKI, Severity: medium,
		Meaning: "Event: `gateway key rotate` published a next gateway frame-signing key (vehicles should pin it)."},
	{Code: GatewayKeyPromoted, Area: AreaPKI, Severity: medium,
		Meaning: "Event: the next gateway frame-signing key became the current one; the previous one can no longer sign."},
	{Code: GatewayKeyDropped, Area: AreaPKI, Severity: medium,
		Meaning: "Event: a gateway frame-signing key was removed from the published set."},
	{Code: CertAlreadyRevoked, Area: AreaPKI, Severity: info,
		Meaning: "Event: a revocation of a certificate that was revoked already."},
	{Code: CertUnknown, Area: AreaPKI, Status: http.StatusNotFound, Severity: low, Kind: protocol,
		Meaning: "No certificate, intermediate or CRL with this serial or key id."},
	{Code: PrincipalRevoked, Area: AreaPKI, Severity: medium,
		Meaning: "Event: a vehicle, TMS client or operator was revoked as a whole."},
	{Code: JoinTokenCreated, Area: AreaPKI, Severity: info,
		Meaning: "Event: a join token was created (the token itself never appears)."},
	{Code: IntermediateAdded, Area: AreaPKI, Severity: medium,
		Meaning: "Event: an intermediate CA was added."},
	{Code: IntermediateIssuing, Area: AreaPKI, Severity: medium,
		Meaning: "Event: an intermediate CA became the issuing one."},
	{Code: IntermediateRetired, Area: AreaPKI, Severity: medium,
		Meaning: "Event: an intermediate CA was retired; its certificates are refused."},
	{Code: CRLPublished, Area: AreaPKI, Severity: info,
		Meaning: "Event: a new CRL was signed."},
	{Code: IssueInvalid, Area: AreaPKI, Status: http.StatusBadRequest, Severity: low, Kind: protocol,
		Meaning: "An operator's request is invalid (principal, lifetime, names, key, revocation reason, intermediate state)."},
	{Code: OCSPRequestTooLarge, Area: AreaPKI, Status: http.StatusRequestEntityTooLarge, Kind: protocol,
		Meaning: "The OCSP request is over its size limit."},

	// Registry.
	{Code: VehicleRegistered, Area: AreaRegistry, Severity: info,
		Meaning: "Event: a vehicle was registered (status active)."},
	{Code: ClientRegistered, Area: AreaRegistry, Severity: info,
		Meaning: "Event: a TMS client was registered."},
	{Code: ClientStatusChanged, Area: AreaRegistry, Severity: medium,
		Meaning: "An operator suspended or resumed a TMS client; its tokens stop or start working within 1 s on every replica."},
	{Code: OperatorRegistered, Area: AreaRegistry, Severity: info,
		Meaning: "An operator was registered as a principal (with no role until one is set)."},
	{Code: OperatorStatusChanged, Area: AreaRegistry, Severity: medium,
		Meaning: "An operator was suspended or resumed."},
	{Code: RolesChanged, Area: AreaRegistry, Severity: medium,
		Meaning: "The roles of a TMS client or an operator changed; a removed role stops working within 1 s, unexpired tokens included."},
	{Code: ClientAccessChanged, Area: AreaRegistry, Severity: medium,
		Meaning: "Event: an operator changed a TMS client's carrier, allowed source ranges or usual hours (attributes `from`, `to`); effective within 1 s on every replica."},
	{Code: VehicleCarrierChanged, Area: AreaRegistry, Severity: medium,
		Meaning: "Event: an operator moved a vehicle to another carrier (attributes `from`, `to`); the old carrier's clients stop seeing it within 1 s."},
	{Code: VehicleStatusChanged, Area: AreaRegistry, Severity: medium,
		Meaning: "Event: a vehicle was suspended or resumed (attributes `from`, `to`)."},
	{Code: FrameKeyRegistered, Area: AreaRegistry, Severity: info,
		Meaning: "Event: a frame-signing key was registered for a vehicle."},
	{Code: FrameKeyRefused, Area: AreaRegistry, Severity: low,
		Meaning: "Event: a frame-signing key was refused at registration (`bad_key`)."},
	{Code: FrameKeyRetired, Area: AreaRegistry, Severity: medium,
		Meaning: "Event: a frame-signing key was retired."},
	{Code: EpochAdvanced, Area: AreaRegistry, Severity: high,
		Meaning: "Event: an operator authorized a vehicle's next epoch."},

	// Liveness.
	{Code: VehicleOnline, Area: AreaLiveness, Severity: info,
		Meaning: "Event: a vehicle's heartbeats arrive on time."},
	{Code: VehicleSuspect, Area: AreaLiveness, Severity: low,
		Meaning: "Event: a vehicle's heartbeats are late."},
	{Code: CommLost, Area: AreaLiveness, Severity: high, Kind: transient,
		Meaning: "The liveness monitor declared comm loss (an event; the close reason, 4000, of the session it ends)."},
	{Code: VehicleSafeState, Area: AreaLiveness, Severity: medium,
		Meaning: "Event: a vehicle reported `safe_state`."},
	{Code: VehicleOffline, Area: AreaLiveness, Severity: info,
		Meaning: "Event: a vehicle went offline on purpose (goodbye, revocation, suspension, gateway close)."},
	{Code: LivenessEventsDropped, Area: AreaLiveness, Severity: high,
		Meaning: "Event: the transition queue overflowed; attribute `count` transitions were neither delivered nor recorded."},
	{Code: LivenessVehicleLimit, Area: AreaLiveness, Severity: medium, Kind: transient,
		Meaning: "The liveness monitor tracks its maximum of vehicles: the session is refused (4005); retry later."},

	// Plausibility findings: never a refusal, recorded with the frame.
	{Code: SpeedDisagreement, Area: AreaPlausibility, Severity: high,
		Meaning: "Event: wheel speed and GNSS speed disagree over several frames."},
	{Code: PositionJump, Area: AreaPlausibility, Severity: high,
		Meaning: "Event: the speed implied between two fixes is faster than any truck."},
	{Code: GNSSFixLost, Area: AreaPlausibility, Severity: high,
		Meaning: "Event: the GNSS reports no fix."},
	{Code: OutsideOperatingArea, Area: AreaPlausibility, Severity: high,
		Meaning: "Event: the position is outside the vehicle's operating area."},

	// The audit log.
	{Code: AuditLogInconsistent, Area: AreaAudit, Status: http.StatusInternalServerError, Severity: high, Kind: transient,
		Meaning: "The stored audit log does not match its signed checkpoints (leaves, nodes or items deleted or edited in the database). Event: the sequencer stops, so the log is not forked; ingest goes on and new items stay pending. `GET /v1/audit/proof/consistency`: the proof from the stored nodes does not verify against the log's own checkpoint of the old size, and is not served. Run `fifthwheel audit verify --since` a saved checkpoint to name the tampered rows."},
	{Code: AuditItemPending, Area: AreaAudit, Status: http.StatusNotFound, Kind: transient,
		Meaning: "`GET /v1/audit/proof/inclusion`: the item is stored but not yet in a signed checkpoint (the sequencer covers it within about a second); retry."},

	// Forensics.
	{Code: ForensicBundleExported, Area: AreaForensics, Severity: low,
		Meaning: "Event: an operator exported a forensic bundle of a vehicle's evidence (attributes: case, window, file SHA-256, items covered and not covered); `fifthwheel forensics verify` checks it offline."},

	// The gateway process.
	{Code: GatewayStarted, Area: AreaSystem, Severity: info,
		Meaning: "Event: the gateway started."},
	{Code: GatewayStopped, Area: AreaSystem, Severity: info,
		Meaning: "Event: the gateway stopped (attribute `reason`)."},
	{Code: StoreMigrated, Area: AreaSystem, Severity: info,
		Meaning: "Event: `fifthwheel store migrate` applied migrations."},

	// Detection.
	{Code: DetectionFinding, Area: AreaDetection, Severity: info,
		Meaning: "Event: a detection rule fired (attributes: finding_id, rule, subject_kind, subject, count, first_at, at, event_ids, safety); the event's severity is the rule's, and a re-delivered stream event can record the same finding_id twice: consumers de-duplicate on it (docs/DETECTION.md)."},
	{Code: DetectionRulesLoaded, Area: AreaDetection, Severity: info,
		Meaning: "Event: the detection engine put a rule set in force (attributes: source, count, hash), at start, on SIGHUP or when the rules file changed."},
	{Code: DetectionRulesRefused, Area: AreaDetection, Severity: medium,
		Meaning: "Event: a changed rules file was refused (attributes: source, hash, errors, each naming file:line and the rule's path); the rule set in force stays."},
	// Incidents.
	{Code: IncidentOpened, Area: AreaIncident, Severity: medium,
		Meaning: "Event: detection findings opened an incident (attributes: subject, rules, finding, safety, the clocks' due times); later findings of the same subject within the grouping window join it."},
	{Code: IncidentAcknowledged, Area: AreaIncident, Severity: info,
		Meaning: "Event: an operator acknowledged an incident (its internal notification clock is done)."},
	{Code: IncidentContained, Area: AreaIncident, Severity: medium,
		Meaning: "Event: an incident moved to contained after a containment action succeeded."},
	{Code: IncidentResolved, Area: AreaIncident, Severity: info,
		Meaning: "Event: an operator resolved an incident (attribute `reason`, e.g. false positive); a hold it placed on a vehicle's commands is released."},
	{Code: IncidentClockOverdue, Area: AreaIncident, Severity: high,
		Meaning: "Event: a notification clock of an incident passed its due time without the notification recorded: escalated once (attributes: clock, due)."},
	{Code: IncidentNotificationSent, Area: AreaIncident, Severity: info,
		Meaning: "Event: an operator recorded a notification sent for an incident (attributes: clock, channel, recipient, reference); the clock is done."},
	{Code: IncidentNoteAdded, Area: AreaIncident, Severity: info,
		Meaning: "Event: an operator added a note to an incident."},
	{Code: IncidentContainment, Area: AreaIncident, Severity: high,
		Meaning: "Event: a containment action taken from an incident (attributes: action revoke_certificate, suspend_client, hold_commands or release_hold; target; result). Verdict reject when it failed."},
	{Code: IncidentStateConflict, Area: AreaIncident, Status: http.StatusConflict, Severity: low, Kind: protocol,
		Meaning: "The incident is not in a state that allows the change (resolved incidents are final; a concurrent change won): read it again."},
	{Code: IncidentInvalid, Area: AreaIncident, Status: http.StatusBadRequest, Severity: low, Kind: protocol,
		Meaning: "An incident request is malformed: unknown action or clock, missing reason, a field over its limit, an invalid target."},
	{Code: VehicleCommandsHeld, Area: AreaIncident, Status: http.StatusConflict, Severity: medium, Kind: protocol,
		Meaning: "The vehicle's commands are held by an incident's containment: no command is created for it, and queued ones stay undelivered until the hold is released."},
	{Code: IncidentsPurged, Area: AreaIncident, Severity: info,
		Meaning: "Event: one per retention run that purged anything (serve every 10 minutes, or `fifthwheel retention purge`): how many incidents resolved before `before` (incidents.retention, default 2 years from resolution) were deleted with their findings, clocks, notes, transitions, notifications and containment actions; unresolved incidents are never purged, and the incidents' events stay in the audit log (docs/INCIDENTS.md, Retention)."},
	// The SIEM sinks.
	{Code: SIEMDeadLettered, Area: AreaSIEM, Severity: medium,
		Meaning: "Event: the SIEM webhook sink gave up a batch of events after its maximum attempts or age; the batch is kept in the store (`fifthwheel siem dead-letters list`) and the sink moved on (attributes: dead letter id, first and last event ids, count, attempts, last error)."},
}
