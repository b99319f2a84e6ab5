package fuzz

// slot is a place in a value tree: element i of parent.
type slot struct {
	parent *value
	i      int
}

// slots lists every member and element under v, depth first.
func slots(v *value, out []slot) []slot {
	for i, e := range v.vals {
		out = append(out, slot{v, i})
		out = slots(e, out)
	}
	return out
}

// mutate returns a changed copy of ev, an event value: one to three edits
// at random places in it.
func (g *generator) mutate(ev *value) *value {
	ev = ev.clone()
	for n := 1 + g.rng.IntN(3); n > 0; n-- {
		g.mutateOnce(ev)
	}
	return ev
}

func (g *generator) mutateOnce(ev *value) {
	all := slots(ev, nil)
	if len(all) == 0 {
		ev.set("claims", g.claims(g.chance(2)))
		return
	}
	s := all[g.rng.IntN(len(all))]
	// Edits at the top level of the event keep it an event most of the
	// time: its members are few and typed.
	if s.parent == ev && g.rng.IntN(4) != 0 {
		g.mutateTop(ev)
		return
	}
	target := s.parent.vals[s.i]
	// Claim names must be unique at the top level of the claims.
	unique := s.parent == ev.get("claims")
	switch g.rng.IntN(10) {
	case 0:
		s.parent.vals[s.i] = g.anyValue(2)
	case 1:
		if len(s.parent.vals) > 1 || s.parent != ev {
			s.parent.remove(s.i)
		}
	case 2:
		switch {
		case s.parent.kind == kindObject && unique:
			s.parent.vals[s.i] = g.anyValue(2)
		case s.parent.kind == kindObject:
			s.parent.set(s.parent.keys[s.i], g.anyValue(2))
		default:
			s.parent.vals = append(s.parent.vals, target.clone())
		}
	case 3:
		if s.parent.kind == kindObject {
			setMember(s.parent, g.claimName(), g.anyValue(1))
		}
	case 4:
		s.parent.vals[s.i] = g.deep(1 + g.rng.IntN(100))
	case 5:
		other := all[g.rng.IntN(len(all))]
		s.parent.vals[s.i] = other.parent.vals[other.i].clone()
	case 6:
		if s.parent.kind == kindObject {
			s.parent.keys[s.i] = g.mutateString(s.parent.keys[s.i])
		}
	default:
		switch target.kind {
		case kindString:
			target.text = g.mutateString(target.text)
		case kindNumber:
			target.text = pick(g, numbers)
		case kindBool:
			target.b = !target.b
		case kindArray:
			if len(target.vals) > 0 && g.chance(2) {
				target.vals = target.vals[:g.rng.IntN(len(target.vals))]
			} else {
				target.vals = append(target.vals, g.anyValue(2))
			}
		case kindObject:
			target.set(g.claimName(), g.anyValue(2))
		default:
			s.parent.vals[s.i] = g.anyValue(2)
		}
	}
}

// mutateTop changes one of the event's own members, keeping its type.
func (g *generator) mutateTop(ev *value) {
	claims := ev.get("claims")
	switch g.rng.IntN(7) {
	case 0:
		setMember(ev, "client_id", str(g.clientID()))
	case 1:
		setMember(ev, "subject", str(g.subject()))
	case 2:
		if claims != nil && claims.kind == kindObject {
			setMember(claims, pick(g, []string{"client_id", "azp", "aud"}), str(g.clientID()))
		}
	case 3:
		if claims != nil && claims.kind == kindObject {
			setMember(claims, "sub", str(g.subject()))
		}
	case 4:
		if i := indexOf(ev, pick(g, []string{"id", "time", "issuer", "client_id", "subject", "context"})); i >= 0 {
			ev.remove(i)
		}
	case 5:
		setMember(ev, "context", g.context())
	default:
		if claims != nil && claims.kind == kindObject {
			setMember(claims, g.claimName(), g.anyValue(0))
		}
	}
}

func indexOf(obj *value, name string) int {
	for i, k := range obj.keys {
		if k == name {
			return i
		}
	}
	return -1
}

// setMember replaces the first member of that name, or appends one.
func setMember(obj *value, name string, val *value) {
	if i := indexOf(obj, name); i >= 0 {
		obj.vals[i] = val
		return
	}
	obj.set(name, val)
}
