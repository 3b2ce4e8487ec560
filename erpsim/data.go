package erpsim

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"archibald"
)

// dataset is the ERP's master data. Every slice is kept sorted by its list key (customer
// id, variant id, price article code), so a page is a sub-slice and a lookup a binary
// search. It is guarded by Server.mu.
type dataset struct {
	customers []archibald.Customer
	products  []archibald.Product
	prices    []archibald.Price

	nextCustomer int // number of the next customer id
	nextVariant  int // number of the next variant id
	groups       []productGroup
}

// productGroup is one of the ~70 product groups: a family of instruments on one shank.
type productGroup struct {
	name      string
	family    family
	shank     shank
	figureLen int // how many figures the family offers
}

type family struct {
	noun      string // description noun and group name
	prefix    string // figure prefix of the article code
	first     int    // first figure number
	basePrice int64  // typical unit price in cents
}

type shank struct {
	code  string // middle part of the article code
	label string // shown in group names and descriptions
}

// The catalogue is that of a dental instrument maker (article codes like H1.314.016:
// figure, shank, size). Fourteen families on five shanks make the 70 groups.
var (
	families = []family{
		{"Frese in carburo", "H", 1, 690},
		{"Frese diamantate", "", 801, 540},
		{"Frese chirurgiche", "HS", 1, 1250},
		{"Strumenti endodontici", "E", 1, 1890},
		{"Lucidatori", "9", 401, 820},
		{"Gommini abrasivi", "G", 1, 450},
		{"Dischi diamantati", "D", 1, 2350},
		{"Frese da laboratorio", "L", 1, 1520},
		{"Frese per protesi", "P", 1, 1340},
		{"Strumenti ortodontici", "OR", 1, 2780},
		{"Strumenti parodontali", "PA", 1, 1960},
		{"Strumenti per impianti", "IM", 1, 4590},
		{"Abrasivi ceramici", "AB", 1, 760},
		{"Frese in ceramica", "K", 1, 1180},
	}
	shanks = []shank{
		{"314", "FG"},
		{"315", "FG lungo"},
		{"204", "CA"},
		{"104", "HP"},
		{"205", "CA lungo"},
	}
	shapes  = []string{"a pallina", "cilindrica", "conica", "a fiamma", "a pera", "a ruota", "a cono rovesciato", "a torpedo", "a punta di matita", "a uovo"}
	sizes   = []int{6, 8, 10, 12, 14, 16, 18, 21, 23, 25, 27, 29, 31, 33, 35, 40, 45, 50, 60}
	figures = 40 // figures per family

	surnames = []string{"Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
		"Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo",
		"Lombardi", "Moretti", "Barbieri", "Fontana", "Santoro", "Mariani", "Rinaldi", "Caruso", "Ferrara",
		"Galli", "Martini", "Leone", "Longo", "Gentile", "Martinelli", "Vitale", "Lombardo", "Serra",
		"Coppola", "De Santis", "D'Angelo", "Marchetti", "Parisi", "Villa", "Conte", "Ferraro", "Ferri",
		"Fabbri", "Bianco", "Marini", "Grasso", "Valentini", "Messina", "Sala", "De Angelis", "Gatti",
		"Pellegrini", "Palumbo", "Sanna", "Farina", "Rizzi", "Monti", "Cattaneo", "Morelli", "Amato",
		"Silvestri", "Mazza", "Testa", "Grassi", "Pellegrino", "Carbone", "Giuliani", "Benedetti"}
	foreignSurnames = []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Dupont", "Martin",
		"Bernard", "Moreau", "García", "Fernández", "Novak", "Horvat", "Kovač", "Jansen", "De Vries"}
	activities = []string{"Forniture Dentali", "Dental Service", "Odontotecnica", "Dental Lab", "Medical",
		"Dental Supply", "Forniture Medicali", "Sanitaria", "Dental Group", "Ortodonzia"}
	legalForms = []string{"S.r.l.", "S.r.l.", "S.r.l.", "S.p.A.", "S.n.c.", "S.a.s.", "S.r.l.s."}
	cities     = []string{"Milano", "Roma", "Torino", "Napoli", "Bologna", "Firenze", "Genova", "Verona",
		"Padova", "Brescia", "Bergamo", "Bari", "Palermo", "Catania", "Venezia", "Trieste", "Modena",
		"Parma", "Reggio Emilia", "Perugia", "Ancona", "Pescara", "Cagliari", "Sassari", "Lecce",
		"Salerno", "Treviso", "Vicenza", "Udine", "Trento", "Bolzano", "Como", "Varese", "Monza",
		"Rimini", "Livorno", "Pisa", "Lucca", "Novara", "Alessandria", "Cuneo", "Piacenza", "Ferrara",
		"Ravenna", "Forlì", "Arezzo", "Siena", "Taranto", "Foggia", "Messina"}
	foreignCities = map[string][]string{
		"DE": {"München", "Stuttgart", "Frankfurt am Main", "Köln"},
		"FR": {"Lyon", "Nice", "Marseille", "Grenoble"},
		"AT": {"Wien", "Innsbruck", "Graz"},
		"SI": {"Ljubljana", "Koper"},
	}
	emailBoxes = []string{"info", "amministrazione", "ordini", "segreteria", "acquisti", "studio"}
)

// generate builds the initial data set from the config's seed and sizes.
func generate(cfg Config) dataset {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x65727073696d)) // "erpsim"
	d := dataset{nextCustomer: 1, nextVariant: 1}

	d.customers = make([]archibald.Customer, 0, cfg.Customers)
	for range cfg.Customers {
		d.customers = append(d.customers, d.newCustomer(rng))
	}

	// Mostly one variant per article: about 1.154 on average (4,500 variants over 3,900
	// articles). About 56 articles a group, at most 70 groups.
	var counts []int
	for total := 0; total < cfg.Products; {
		n := min(variantCount(rng), cfg.Products-total)
		counts = append(counts, n)
		total += n
	}
	articles := len(counts)
	ngroups := min(len(families)*len(shanks), max(1, (articles+55)/56))
	d.groups = makeGroups(ngroups)
	// Large catalogues need more figures a family than the usual 40, or the loop below
	// would run out of distinct codes: keep the code space at least twice the articles.
	if need := (2*articles + ngroups*len(sizes) - 1) / (ngroups * len(sizes)); need > figures {
		for i := range d.groups {
			d.groups[i].figureLen = need
		}
	}

	codes := make(map[string]bool, articles)
	type article struct {
		code  string
		group int
		fig   int
		size  int
	}
	list := make([]article, 0, articles)
	for len(list) < articles {
		g := rng.IntN(len(d.groups))
		fig, size := rng.IntN(d.groups[g].figureLen), sizes[rng.IntN(len(sizes))]
		code := d.groups[g].code(fig, size)
		if codes[code] {
			continue
		}
		codes[code] = true
		list = append(list, article{code, g, fig, size})
	}
	slices.SortFunc(list, func(a, b article) int { return cmp.Compare(a.code, b.code) })

	d.products = make([]archibald.Product, 0, cfg.Products)
	d.prices = make([]archibald.Price, 0, len(list))
	for i, a := range list {
		for _, pack := range packs(rng, counts[i]) {
			d.products = append(d.products, d.newVariant(rng, a.code, a.group, a.fig, a.size, pack))
		}
		d.prices = append(d.prices, newPrice(rng, a.code, d.groups[a.group].family))
	}
	return d
}

func makeGroups(n int) []productGroup {
	groups := make([]productGroup, 0, n)
	// Interleave families so that small data sets still cover many of them.
	for i := range n {
		f := families[i%len(families)]
		sh := shanks[i/len(families)%len(shanks)]
		groups = append(groups, productGroup{name: f.noun + " " + sh.label, family: f, shank: sh, figureLen: figures})
	}
	return groups
}

// code is the article code of a figure and size in the group, e.g. H1.314.016.
func (g productGroup) code(fig, size int) string {
	return fmt.Sprintf("%s%d.%s.%03d", g.family.prefix, g.family.first+fig, g.shank.code, size)
}

func (g productGroup) description(fig, size, pack int) string {
	desc := fmt.Sprintf("%s %s, gambo %s, Ø %d,%d mm", singular(g.family.noun), shapes[fig%len(shapes)],
		g.shank.label, size/10, size%10)
	if pack > 1 {
		desc += fmt.Sprintf(", conf. %d pz", pack)
	}
	return desc
}

// singular turns the family noun into the description's noun ("Frese diamantate" →
// "Fresa diamantata"), good enough for the words the catalogue uses.
func singular(noun string) string {
	words := strings.Fields(noun)
	for i, w := range words {
		if i > 0 && (w == "in" || w == "per" || w == "da" || w == "di") {
			break
		}
		switch {
		case strings.HasSuffix(w, "ici"):
			w = strings.TrimSuffix(w, "ici") + "ico"
		case strings.HasSuffix(w, "i"):
			w = strings.TrimSuffix(w, "i") + "o"
		case strings.HasSuffix(w, "e"):
			w = strings.TrimSuffix(w, "e") + "a"
		}
		words[i] = w
	}
	return strings.Join(words, " ")
}

// variantCount draws how many package variants an article has: mostly one.
func variantCount(rng *rand.Rand) int {
	switch r := rng.IntN(1000); {
	case r < 870:
		return 1
	case r < 976:
		return 2
	default:
		return 3
	}
}

var packSizes = []int{1, 5, 10, 25}

// packs draws n distinct package contents, ascending.
func packs(rng *rand.Rand, n int) []int {
	if n == 1 {
		switch r := rng.IntN(100); {
		case r < 50:
			return []int{1}
		case r < 80:
			return []int{5}
		case r < 95:
			return []int{10}
		default:
			return []int{25}
		}
	}
	perm := rng.Perm(len(packSizes))[:n]
	out := make([]int, n)
	for i, p := range perm {
		out[i] = packSizes[p]
	}
	slices.Sort(out)
	return out
}

func (d *dataset) newVariant(rng *rand.Rand, code string, group, fig, size, pack int) archibald.Product {
	id := fmt.Sprintf("V%07d", d.nextVariant)
	d.nextVariant++
	minQty := pack
	if rng.IntN(10) == 0 {
		minQty = 2 * pack
	}
	return archibald.Product{
		ID:             id,
		ArticleCode:    code,
		Description:    d.groups[group].description(fig, size, pack),
		Group:          d.groups[group].name,
		PackageContent: pack,
		MinQty:         minQty,
		MultipleQty:    pack,
		MaxQty:         maxQtyFor(rng, pack),
	}
}

// maxQtyFor draws a maximum quantity: a multiple of the package content, at least 1,000.
func maxQtyFor(rng *rand.Rand, pack int) int {
	limit := []int{1000, 2000, 2500, 5000}[rng.IntN(4)]
	return (limit + pack - 1) / pack * pack
}

func newPrice(rng *rand.Rand, code string, f family) archibald.Price {
	// Between half and two and a half times the family's typical price, in 5-cent steps.
	cents := f.basePrice/2 + rng.Int64N(2*f.basePrice)
	cents = max(5, cents/5*5)
	from, to := "2026-01-01", "2026-12-31"
	switch rng.IntN(10) {
	case 0:
		from = "2025-07-01"
	case 1:
		to = "2027-06-30"
	}
	return archibald.Price{ArticleCode: code, UnitPriceCents: cents, Currency: "EUR", ValidFrom: from, ValidTo: to}
}

func (d *dataset) newCustomer(rng *rand.Rand) archibald.Customer {
	id := fmt.Sprintf("C%06d", d.nextCustomer)
	d.nextCustomer++
	country := "IT"
	if r := rng.IntN(100); r < 8 {
		country = []string{"DE", "FR", "AT", "SI"}[r%4]
	}
	name := customerName(rng, country)
	city := cities[rng.IntN(len(cities))]
	if country != "IT" {
		cs := foreignCities[country]
		city = cs[rng.IntN(len(cs))]
	}
	return archibald.Customer{
		ID:        id,
		Name:      name,
		VATNumber: vatNumber(rng, country),
		Email:     email(rng, name, country),
		City:      city,
	}
}

func customerName(rng *rand.Rand, country string) string {
	if country != "IT" {
		s := foreignSurnames[rng.IntN(len(foreignSurnames))]
		switch country {
		case "DE", "AT":
			return []string{"Zahnarztpraxis Dr. " + s, s + " Dental GmbH", "Dentallabor " + s}[rng.IntN(3)]
		case "FR":
			return []string{"Cabinet Dentaire " + s, s + " Dentaire SARL"}[rng.IntN(2)]
		default:
			return []string{"Zobna ordinacija " + s, s + " Dental d.o.o."}[rng.IntN(2)]
		}
	}
	s := surnames[rng.IntN(len(surnames))]
	switch rng.IntN(6) {
	case 0:
		return "Studio Dentistico " + s
	case 1:
		return "Studio Odontoiatrico Dr. " + s
	case 2:
		return "Laboratorio Odontotecnico " + s + " & " + surnames[rng.IntN(len(surnames))]
	case 3:
		return s + " & " + surnames[rng.IntN(len(surnames))] + " " + legalForms[rng.IntN(len(legalForms))]
	default:
		return s + " " + activities[rng.IntN(len(activities))] + " " + legalForms[rng.IntN(len(legalForms))]
	}
}

// vatNumber draws a VAT number; an Italian one (partita IVA) has a valid check digit.
func vatNumber(rng *rand.Rand, country string) string {
	digits := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		return b
	}
	switch country {
	case "IT":
		b := digits(10)
		// digits 8-10 are the province office, 001-100
		office := 1 + rng.IntN(100)
		copy(b[7:], fmt.Sprintf("%03d", office))
		sum := 0
		for i, c := range b {
			v := int(c - '0')
			if i%2 == 1 {
				v *= 2
				if v > 9 {
					v -= 9
				}
			}
			sum += v
		}
		return "IT" + string(b) + strconv.Itoa((10-sum%10)%10)
	case "DE":
		return "DE" + string(digits(9))
	case "FR":
		return "FR" + string(digits(11))
	case "AT":
		return "ATU" + string(digits(8))
	default:
		return country + string(digits(8))
	}
}

func email(rng *rand.Rand, name, country string) string {
	tld := map[string]string{"IT": "it", "DE": "de", "FR": "fr", "AT": "at", "SI": "si"}[country]
	return emailBoxes[rng.IntN(len(emailBoxes))] + "@" + slug(name) + "." + tld
}

// slug keeps the ASCII letters and digits of a name, lower-cased, dropping legal forms.
func slug(name string) string {
	for _, f := range legalForms {
		name = strings.TrimSuffix(name, " "+f)
	}
	repl := strings.NewReplacer("ü", "u", "ö", "o", "ä", "a", "é", "e", "í", "i", "č", "c", "ì", "i", "&", "e")
	name = repl.Replace(strings.ToLower(name))
	var b strings.Builder
	for _, r := range name {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	if b.Len() > 30 {
		return b.String()[:30]
	}
	return b.String()
}

// Lookups by key; each slice is sorted by its key.

func (d *dataset) customer(id string) (archibald.Customer, bool) {
	i, ok := slices.BinarySearchFunc(d.customers, id, func(c archibald.Customer, id string) int { return cmp.Compare(c.ID, id) })
	if !ok {
		return archibald.Customer{}, false
	}
	return d.customers[i], true
}

func (d *dataset) product(id string) (archibald.Product, bool) {
	i, ok := slices.BinarySearchFunc(d.products, id, func(p archibald.Product, id string) int { return cmp.Compare(p.ID, id) })
	if !ok {
		return archibald.Product{}, false
	}
	return d.products[i], true
}

func (d *dataset) priceIndex(code string) (int, bool) {
	return slices.BinarySearchFunc(d.prices, code, func(p archibald.Price, code string) int { return cmp.Compare(p.ArticleCode, code) })
}

// Mutation asks the simulator to change its data, as the ERP's users do between two
// sync runs. Each count is how many rows to add, change and remove; the answer has the
// same shape and says what was done (fewer when there were not enough rows, and price
// rows added or removed along with product articles).
type Mutation struct {
	Customers MutationCounts `json:"customers"`
	Products  MutationCounts `json:"products"`
	Prices    MutationCounts `json:"prices"`
}

// MutationCounts counts rows added, changed and removed.
type MutationCounts struct {
	Add    int `json:"add"`
	Change int `json:"change"`
	Remove int `json:"remove"`
}

// DefaultMutation is what an empty mutate request (or Mutate with a zero Mutation) does:
// 5 rows added, 10 changed and 3 removed in each list.
func DefaultMutation() Mutation {
	c := MutationCounts{Add: 5, Change: 10, Remove: 3}
	return Mutation{Customers: c, Products: c, Prices: c}
}

func (m Mutation) validate() error {
	for _, f := range []struct {
		name string
		c    MutationCounts
	}{{"customers", m.Customers}, {"products", m.Products}, {"prices", m.Prices}} {
		for _, v := range []struct {
			name string
			n    int
		}{{"add", f.c.Add}, {"change", f.c.Change}, {"remove", f.c.Remove}} {
			if v.n < 0 || v.n > 100000 {
				return fmt.Errorf("%s.%s: must be between 0 and 100000, got %d", f.name, v.name, v.n)
			}
		}
	}
	return nil
}

// mutate applies m; rng is derived from the seed and the number of earlier mutations.
// Removals come first, then changes, then additions, so every row counted is visible as
// such in the next pages (no row is both changed and removed, or added and changed).
func (d *dataset) mutate(rng *rand.Rand, m Mutation, round int) Mutation {
	var did Mutation

	// Remove.
	for _, i := range sortedDesc(pick(rng, len(d.customers), m.Customers.Remove)) {
		d.customers = slices.Delete(d.customers, i, i+1)
		did.Customers.Remove++
	}
	unpriced := map[string]bool{} // articles whose price this round removed
	for _, i := range sortedDesc(pick(rng, len(d.products), m.Products.Remove)) {
		code := d.products[i].ArticleCode
		d.products = slices.Delete(d.products, i, i+1)
		did.Products.Remove++
		if !slices.ContainsFunc(d.products, func(p archibald.Product) bool { return p.ArticleCode == code }) {
			if j, ok := d.priceIndex(code); ok {
				d.prices = slices.Delete(d.prices, j, j+1)
				did.Prices.Remove++
			}
		}
	}
	for _, i := range sortedDesc(pick(rng, len(d.prices), m.Prices.Remove)) {
		unpriced[d.prices[i].ArticleCode] = true
		d.prices = slices.Delete(d.prices, i, i+1)
		did.Prices.Remove++
	}

	// Change.
	for _, i := range pick(rng, len(d.customers), m.Customers.Change) {
		c := &d.customers[i]
		switch rng.IntN(3) {
		case 0:
			c.City = other(rng, cities, c.City)
		case 1:
			box, domain, _ := strings.Cut(c.Email, "@")
			c.Email = other(rng, emailBoxes, box) + "@" + domain
		default:
			if j := strings.Index(c.Name, " (sede "); j >= 0 {
				c.Name = c.Name[:j]
			}
			c.Name += fmt.Sprintf(" (sede %d)", round)
		}
		did.Customers.Change++
	}
	for _, i := range pick(rng, len(d.products), m.Products.Change) {
		p := &d.products[i]
		if rng.IntN(2) == 0 {
			p.MaxQty += p.MultipleQty * (1 + rng.IntN(100))
		} else {
			if j := strings.Index(p.Description, " (rev. "); j >= 0 {
				p.Description = p.Description[:j]
			}
			p.Description += fmt.Sprintf(" (rev. %d)", round)
		}
		did.Products.Change++
	}
	for _, i := range pick(rng, len(d.prices), m.Prices.Change) {
		p := &d.prices[i]
		delta := max(5, p.UnitPriceCents*int64(2+rng.IntN(14))/100/5*5)
		if rng.IntN(3) == 0 && p.UnitPriceCents > delta {
			delta = -delta
		}
		p.UnitPriceCents += delta
		did.Prices.Change++
	}

	// Add.
	for range m.Customers.Add {
		d.customers = append(d.customers, d.newCustomer(rng))
		did.Customers.Add++
	}
	for range m.Products.Add {
		if rng.IntN(4) == 0 && d.addVariantToArticle(rng) {
			did.Products.Add++
			continue
		}
		if d.addArticle(rng) {
			did.Products.Add++
			did.Prices.Add++
		}
	}
	// Prices added are those of articles that lost theirs in an earlier mutation.
	for i, added := 0, 0; i < len(d.products) && added < m.Prices.Add; i++ {
		p := d.products[i]
		if j, ok := d.priceIndex(p.ArticleCode); !ok && !unpriced[p.ArticleCode] {
			d.prices = slices.Insert(d.prices, j, newPrice(rng, p.ArticleCode, d.familyOf(p.Group)))
			did.Prices.Add++
			added++
		}
	}
	return did
}

func (d *dataset) familyOf(group string) family {
	for _, g := range d.groups {
		if g.name == group {
			return g.family
		}
	}
	return families[0]
}

// addArticle adds a new article with one variant and its price.
func (d *dataset) addArticle(rng *rand.Rand) bool {
	for range 1000 {
		g := rng.IntN(len(d.groups))
		fig, size := rng.IntN(d.groups[g].figureLen), sizes[rng.IntN(len(sizes))]
		code := d.groups[g].code(fig, size)
		j, taken := d.priceIndex(code)
		if taken || slices.ContainsFunc(d.products, func(p archibald.Product) bool { return p.ArticleCode == code }) {
			continue
		}
		d.products = append(d.products, d.newVariant(rng, code, g, fig, size, packs(rng, 1)[0]))
		d.prices = slices.Insert(d.prices, j, newPrice(rng, code, d.groups[g].family))
		return true
	}
	return false
}

// addVariantToArticle adds a package variant to an existing article that lacks one.
func (d *dataset) addVariantToArticle(rng *rand.Rand) bool {
	if len(d.products) == 0 {
		return false
	}
	base := d.products[rng.IntN(len(d.products))]
	var have []int
	for _, p := range d.products {
		if p.ArticleCode == base.ArticleCode {
			have = append(have, p.PackageContent)
		}
	}
	for _, pack := range packSizes {
		if slices.Contains(have, pack) {
			continue
		}
		minQty := pack
		p := archibald.Product{
			ID:             fmt.Sprintf("V%07d", d.nextVariant),
			ArticleCode:    base.ArticleCode,
			Description:    packDescription(base.Description, pack),
			Group:          base.Group,
			PackageContent: pack,
			MinQty:         minQty,
			MultipleQty:    pack,
			MaxQty:         maxQtyFor(rng, pack),
		}
		d.nextVariant++
		d.products = append(d.products, p)
		return true
	}
	return false
}

func packDescription(desc string, pack int) string {
	if i := strings.Index(desc, ", conf. "); i >= 0 {
		desc = desc[:i]
	}
	if pack > 1 {
		desc += fmt.Sprintf(", conf. %d pz", pack)
	}
	return desc
}

// pick draws up to n distinct indices below size.
func pick(rng *rand.Rand, size, n int) []int {
	n = min(n, size)
	if n <= 0 {
		return nil
	}
	seen := make(map[int]bool, n)
	out := make([]int, 0, n)
	for len(out) < n {
		i := rng.IntN(size)
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

func sortedDesc(idx []int) []int {
	slices.Sort(idx)
	slices.Reverse(idx)
	return idx
}

// other draws an element of list different from cur (list has at least two).
func other(rng *rand.Rand, list []string, cur string) string {
	for {
		if s := list[rng.IntN(len(list))]; s != cur {
			return s
		}
	}
}
