package tmsapi

import (
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/httpapi"
)

// Limits of the TMS command API, each with why. The command's own bounds
// (payload size, lifetime) are package command's; the arrays that reach
// the vehicle are package frame's, so a request that passes here also
// fits the signed command.
const (
	// MaxBodyBytes bounds a request body: a tender at every bound below
	// (16 stops of 256-byte addresses, 32 hazmat lines) is about 20 KiB.
	MaxBodyBytes = 64 << 10

	// MaxIdempotencyKeyLen bounds an Idempotency-Key (package httpapi's,
	// shared by every POST of the TMS listener).
	MaxIdempotencyKeyLen = httpapi.MaxIdempotencyKeyLen

	// MaxIDLen bounds a tender id (it becomes the command's tender_id,
	// frame.MaxCommandIDLen).
	MaxIDLen = frame.MaxCommandIDLen

	// MaxStops and MaxWaypoints are the vehicle's bounds (package frame).
	MaxStops     = frame.MaxStops
	MaxWaypoints = frame.MaxWaypoints
	// MaxNameLen bounds facility and waypoint names (package frame).
	MaxNameLen = frame.MaxNameLen

	// MaxTextLen bounds the free texts of a tender (address, references,
	// proper shipping name, equipment): an EDI 204 element is at most
	// 80 characters; 256 bytes cover UTF-8.
	MaxTextLen = 256

	// MaxHazmatLines bounds a tender's hazmat lines: a mixed load of
	// dangerous goods rarely has more than a handful.
	MaxHazmatLines = 32

	// MaxGrossKg bounds a tender's gross weight: no road load is above
	// 200 t; a larger number is a unit error.
	MaxGrossKg = 200000

	// MaxReasonLen bounds a route update's or cancel's reason: a reason
	// code that travels in the signed command (frame.MaxReasonLen).
	MaxReasonLen = frame.MaxReasonLen

	// MaxRouteScan bounds how many of a vehicle's commands a route update
	// reads to find its current route. A vehicle with more commands than
	// this answers 503 (fail closed) rather than a revision it could not
	// find: the bound is far above a vehicle's commands in a retention
	// period.
	MaxRouteScan = 20000

	// MaxTenderCommands bounds how many commands of one tender a cancel
	// reads (its dispatches and their route updates): a tender with more
	// answers 503 rather than a cancel that missed some (fail closed); a
	// re-route an hour for a month is far below it.
	MaxTenderCommands = 20000

	// MaxRespondBy bounds how far ahead a tender's respond_by may be.
	MaxRespondBy = 30 * 24 * time.Hour
)

// frameMaxTZLen is package frame's bound on a time zone name.
const frameMaxTZLen = frame.MaxTZLen

// MaxListPage bounds a command list's page (limit); the default is the
// store's DefaultPage.
const MaxListPage = 500
