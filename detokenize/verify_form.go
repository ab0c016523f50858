package detokenize

import "github.com/tokengate/tokengate/body"

// numberFields reads Result.Verify's number fields from a built form or
// multipart body: one Find per selector, kept while the cards name the same
// one (a rule set's cards do), and read as a list, not a map of maps per
// request (two allocations a detokenize); a bulk body's many fields are
// looked up in a map, as before.
type numberFields struct {
	sel    string
	found  bool
	values []body.Value
	byPath map[string]string // for more than maxListedNumbers values
}

// maxListedNumbers is the most number fields searched one by one.
const maxListedNumbers = 8

// at returns the value of the field at path among those selector sel finds
// in doc (the last one of that path, as the map kept it), and whether
// there is one.
func (n *numberFields) at(doc body.Doc, sel, path string) (string, bool) {
	if !n.found || n.sel != sel {
		n.sel, n.found, n.byPath = sel, true, nil
		n.values = body.FindAppend(doc, n.values[:0], sel)
		if len(n.values) > maxListedNumbers {
			n.byPath = make(map[string]string, len(n.values))
			for _, v := range n.values {
				n.byPath[v.Path] = v.Raw
			}
		}
	}
	if n.byPath != nil {
		v, ok := n.byPath[path]
		return v, ok
	}
	for i := len(n.values) - 1; i >= 0; i-- {
		if n.values[i].Path == path {
			return n.values[i].Raw, true
		}
	}
	return "", false
}
