package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/runtime/internal/wasmbin"
)

// Errors New wraps when a listener cannot start.
var (
	// ErrModule means the module cannot be used: it does not compile,
	// lacks a required export or has an unknown import.
	ErrModule = errors.New("invalid module")
	// ErrStart means the module is valid but its first instance did not
	// start: _initialize trapped, or tw_init failed, most often because of
	// the listener's config.
	ErrStart = errors.New("listener failed to start")
)

// ModuleInfo describes a loaded module.
type ModuleInfo struct {
	// SHA256 is the hex digest of the module bytes.
	SHA256 string
	// ABIVersion is the version the module's marker export declares.
	ABIVersion int
	// Exports lists exported function names, sorted, plus "memory".
	Exports []string
	// Imports lists imports as "module.name", sorted.
	Imports []string
}

// exportRule is one export the ABI defines.
type exportRule struct {
	name     string
	required bool
	params   []api.ValueType
	results  []api.ValueType
	hint     string
}

var i32 = api.ValueTypeI32

var exportRules = []exportRule{
	{abi.ExportVersionMarker, true, nil, nil, "build the module against tokenwire ABI v1 (every tokenwire SDK exports it)"},
	{abi.ExportOnEvent, true, []api.ValueType{i32}, []api.ValueType{i32}, "export the event handler"},
	{abi.ExportInit, false, []api.ValueType{i32}, []api.ValueType{i32}, ""},
	{abi.ExportShutdown, false, nil, nil, ""},
	{abi.ExportInitialize, false, nil, nil, ""},
}

// describeModule checks a compiled module's exports and imports against ABI
// v1 and the host modules instantiated in rt. Each error names the export
// or import and what to change.
func describeModule(rt wazero.Runtime, compiled wazero.CompiledModule, code []byte) (*ModuleInfo, error) {
	sum := sha256.Sum256(code)
	info := &ModuleInfo{SHA256: hex.EncodeToString(sum[:]), ABIVersion: abi.Version}

	var errs []error
	exports := compiled.ExportedFunctions()
	if _, ok := compiled.ExportedMemories()[abi.ExportMemory]; !ok {
		errs = append(errs, fmt.Errorf("missing export %q: the module must export its linear memory as %q", abi.ExportMemory, abi.ExportMemory))
	} else {
		info.Exports = append(info.Exports, abi.ExportMemory)
	}
	for _, rule := range exportRules {
		def, ok := exports[rule.name]
		if !ok {
			if rule.name == abi.ExportVersionMarker {
				if other := otherVersionMarker(exports); other != "" {
					errs = append(errs, fmt.Errorf("module is built for another tokenwire ABI (it exports %q): this host supports only ABI v1", other))
					continue
				}
			}
			if rule.required {
				errs = append(errs, fmt.Errorf("missing export %q: %s", rule.name, rule.hint))
			}
			continue
		}
		if !slices.Equal(def.ParamTypes(), rule.params) || !slices.Equal(def.ResultTypes(), rule.results) {
			errs = append(errs, fmt.Errorf("export %q has type %s: ABI v1 defines %s",
				rule.name, signature(def.ParamTypes(), def.ResultTypes()), signature(rule.params, rule.results)))
		}
	}
	for name := range exports {
		info.Exports = append(info.Exports, name)
	}
	slices.Sort(info.Exports)
	info.Exports = slices.Compact(info.Exports)

	for _, def := range compiled.ImportedFunctions() {
		module, name, _ := def.Import()
		if module == wasmbin.RefuelModule && name == wasmbin.RefuelName {
			continue // added by metering
		}
		info.Imports = append(info.Imports, module+"."+name)
		if err := checkImport(rt, module, name, def); err != nil {
			errs = append(errs, err)
		}
	}
	for _, def := range compiled.ImportedMemories() {
		module, name, _ := def.Import()
		info.Imports = append(info.Imports, module+"."+name)
		errs = append(errs, fmt.Errorf("unknown import %q: a listener must define and export its own memory, not import it", module+"."+name))
	}
	slices.Sort(info.Imports)
	info.Imports = slices.Compact(info.Imports)
	if len(errs) > 0 {
		return info, errors.Join(errs...)
	}
	return info, nil
}

// otherVersionMarker returns an export that marks another ABI version, such
// as "tokenwire_abi_v2", or "".
func otherVersionMarker(exports map[string]api.FunctionDefinition) string {
	for name := range exports {
		if strings.HasPrefix(name, "tokenwire_abi_v") && name != abi.ExportVersionMarker {
			return name
		}
	}
	return ""
}

// checkImport reports an import that the host does not provide, or that it
// provides with another type.
func checkImport(rt wazero.Runtime, module, name string, def api.FunctionDefinition) error {
	qualified := module + "." + name
	if module != abi.ImportModule && module != abi.ImportModuleWASI {
		return fmt.Errorf("unknown import %q: a listener may import only from %q and %q", qualified, abi.ImportModule, abi.ImportModuleWASI)
	}
	host := rt.Module(module)
	if host == nil {
		return fmt.Errorf("import %q: host module %q is not available", qualified, module)
	}
	defs := host.ExportedFunctionDefinitions()
	want, ok := defs[name]
	if !ok {
		if module == abi.ImportModule {
			names := make([]string, 0, len(abi.HostFuncs))
			for _, f := range abi.HostFuncs {
				names = append(names, f.Name)
			}
			return fmt.Errorf("unknown import %q: ABI v1 host functions are %s", qualified, strings.Join(names, ", "))
		}
		return fmt.Errorf("unknown import %q: WASI preview 1 has no such function", qualified)
	}
	if !slices.Equal(def.ParamTypes(), want.ParamTypes()) || !slices.Equal(def.ResultTypes(), want.ResultTypes()) {
		return fmt.Errorf("import %q has type %s: the host defines %s",
			qualified, signature(def.ParamTypes(), def.ResultTypes()), signature(want.ParamTypes(), want.ResultTypes()))
	}
	return nil
}

// signature formats a function type as "(i32, i32) -> (i32)".
func signature(params, results []api.ValueType) string {
	format := func(types []api.ValueType) string {
		names := make([]string, len(types))
		for i, t := range types {
			names[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(names, ", ") + ")"
	}
	return format(params) + " -> " + format(results)
}

// MaxTableElements bounds the elements all tables of a module may declare.
// At 8 bytes an element that is 8 MiB per instance, outside memory_limit.
// A Go listener declares about 6,000.
const MaxTableElements = 1 << 20

// meterModules is false only in tests and benchmarks that compare a module
// with and without its instruction budget.
var meterModules = true

// compile checks code's declared sizes, freezes its tables at their
// declared size (wazero counts tables against no limit), adds instruction
// metering, compiles it in rt and validates it against the ABI.
func compile(ctx context.Context, rt wazero.Runtime, code []byte) (wazero.CompiledModule, *ModuleInfo, error) {
	// wazero allocates vectors at their declared counts before reading
	// them, so a few bytes could exhaust the process's memory.
	if err := wasmbin.Check(code, wasmbin.DefaultLimits); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrModule, err)
	}
	frozen, err := wasmbin.FreezeTables(code, MaxTableElements)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrModule, err)
	}
	if meterModules {
		frozen, err = wasmbin.Meter(frozen)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: instruction metering: %v", ErrModule, err)
		}
	}

	compiled, err := rt.CompileModule(ctx, frozen)
	if err != nil && strings.Contains(err.Error(), "over limit of") {
		return nil, nil, fmt.Errorf("%w: compile: %v: the module's initial memory is larger than memory_limit: raise memory_limit", ErrModule, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: compile: %v", ErrModule, err)
	}

	info, err := describeModule(rt, compiled, code)
	if err != nil {
		_ = compiled.Close(ctx)
		return nil, info, fmt.Errorf("%w: %w", ErrModule, err)
	}
	return compiled, info, nil
}
