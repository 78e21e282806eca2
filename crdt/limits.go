package crdt

// Limits on untrusted input. Every one is checked before the bytes it
// governs are read or allocated. They are part of the format: raising one
// lets a new release write entries that old releases refuse, so they change
// only with a new format version.
const (
	// MaxBodySize is the largest body an entry may carry.
	MaxBodySize = 64 << 10
	// MaxDeps is how many entries one entry may name as dependencies.
	MaxDeps = 32
	// MaxHeaderSize bounds the signed header (about 1.2 KiB with MaxDeps).
	MaxHeaderSize = 2 << 10
	// MaxEntrySize bounds a whole encoded entry: header, signature, body
	// and their framing.
	MaxEntrySize = MaxHeaderSize + MaxBodySize + 128

	// Body fields.
	MaxNameLen   = 120  // organisation, network and device names
	MaxTitleLen  = 200  // request titles
	MaxTokenLen  = 40   // support types, groups, languages
	MaxListLen   = 64   // elements in a list field
	MaxNoteLen   = 2000 // short free-text notes (contact, close note, reason)
	MaxQuorum    = 255  // stewards needed to admit an organisation
	MaxAddressed = 64   // organisations a request may be addressed to
	MaxTokens    = 16   // blinded applicant identifiers in a grant record
	MaxWraps     = 64   // wrapped keys in one entry (devices of an organisation, organisations a body is sealed for)
	MaxKeyEpochs = 64   // an organisation's keys, current and past, handed to a device at once
	MaxHintAddrs = 8    // addresses in one address hint
	MaxAddrLen   = 256  // bytes of one address (a binary multiaddr) in an address hint

	// Sizes of the sealing formats (node/seal.go writes them).
	SealedWrapSize = 32 + 32 + 32 + 48 // organisation, its key, ephemeral key, sealed content key
	orgKeyWrapMin  = 32 + 32 + 16 + 32 // device, ephemeral key, tag, one key
)
