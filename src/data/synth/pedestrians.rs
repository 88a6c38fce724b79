//! Procedural pedestrians for the Market-1501 format: draws the 27 raw attributes of an identity
//! with Market-like frequencies and renders a 64×128 (design) figure whose clothes, hair, bags
//! and age show them; each image of an identity varies pose, scale, light and background.

use super::super::market::MARKET_FIELDS;
use crate::rng::Rng;
use super::raster::{Canvas, Color};
use super::Rates;

pub const DESIGN_W: f32 = 64.0;
pub const DESIGN_H: f32 = 128.0;

/// Market upper-body colours, in the order of the `up*` fields of [`MARKET_FIELDS`].
const UP_COLOURS: [Color; 8] = [
    [25.0, 25.0, 28.0],    // black
    [238.0, 238.0, 235.0], // white
    [200.0, 35.0, 35.0],   // red
    [130.0, 50.0, 160.0],  // purple
    [235.0, 210.0, 40.0],  // yellow
    [130.0, 130.0, 132.0], // gray
    [40.0, 75.0, 190.0],   // blue
    [40.0, 150.0, 60.0],   // green
];
/// Rough Market frequencies of the upper colours (training identities).
const UP_WEIGHTS: [f32; 8] = [113.0, 228.0, 78.0, 30.0, 36.0, 86.0, 46.0, 56.0];
/// Lower colours: black white pink purple yellow gray blue green brown.
const DOWN_COLOURS: [Color; 9] = [
    [25.0, 25.0, 28.0],
    [238.0, 238.0, 235.0],
    [240.0, 140.0, 175.0],
    [130.0, 50.0, 160.0],
    [235.0, 210.0, 40.0],
    [130.0, 130.0, 132.0],
    [40.0, 75.0, 190.0],
    [40.0, 150.0, 60.0],
    [120.0, 75.0, 40.0],
];
const DOWN_WEIGHTS: [f32; 9] = [293.0, 58.0, 29.0, 8.0, 10.0, 123.0, 123.0, 14.0, 69.0];

/// The raw attributes of one identity (Market codes: 1/2, age 1..=4) and its look.
#[derive(Debug, Clone)]
pub struct Pedestrian {
    /// Values in the order of [`MARKET_FIELDS`].
    pub raw: [u8; 27],
    skin: Color,
    hair: Color,
    hat: Color,
    bag: Color,
    up: Color,
    up2: Color,
    down: Color,
    shoes: Color,
}

fn field(name: &str) -> usize {
    MARKET_FIELDS.iter().position(|f| *f == name).unwrap_or(0)
}

fn jitter(rng: &mut Rng, c: Color, amount: f32) -> Color {
    let j = rng.range(1.0 - amount, 1.0 + amount);
    [c[0] * j, c[1] * j, c[2] * j]
}

/// The raw fields whose rate (of the value 2, "yes") `rates:` may set: each is one draw of its own.
pub const RATE_FIELDS: [&str; 7] = ["hair", "up", "down", "hat", "backpack", "bag", "handbag"];

/// Draws the attributes and look of one identity (no label noise); `rates` replaces the priors of
/// some [`RATE_FIELDS`].
pub fn sample_pedestrian(rng: &mut Rng, rates: &Rates) -> Pedestrian {
    let p = |name: &str, prior: f32| rates.of(field(name), prior);
    let mut raw = [1u8; 27];
    let yes = |rng: &mut Rng, p: f32| if rng.chance(p) { 2u8 } else { 1u8 };
    let female = rng.chance(0.43);
    raw[field("gender")] = if female { 2 } else { 1 };
    raw[field("age")] = 1 + rng.weighted(&[0.02, 0.76, 0.21, 0.02]) as u8;
    raw[field("hair")] = yes(rng, p("hair", if female { 0.75 } else { 0.05 }));
    raw[field("up")] = yes(rng, p("up", 0.93)); // 2 = short sleeves
    raw[field("clothes")] = if female && rng.chance(0.35) { 1 } else { 2 }; // 1 = dress
    raw[field("down")] = yes(rng, p("down", if raw[field("clothes")] == 1 { 0.7 } else { 0.58 })); // 2 = short
    raw[field("hat")] = yes(rng, p("hat", 0.03));
    raw[field("backpack")] = yes(rng, p("backpack", 0.26));
    raw[field("bag")] = yes(rng, p("bag", 0.25));
    raw[field("handbag")] = yes(rng, p("handbag", if female { 0.17 } else { 0.07 }));
    // One colour marked for most identities; ~9% have none (multi-coloured or unclear clothes).
    let up = if rng.chance(0.91) { Some(rng.weighted(&UP_WEIGHTS)) } else { None };
    let down = if rng.chance(0.93) { Some(rng.weighted(&DOWN_WEIGHTS)) } else { None };
    if let Some(u) = up {
        raw[field("upblack") + u] = 2;
    }
    if let Some(d) = down {
        raw[field("downblack") + d] = 2;
    }
    let skin = [[235.0, 195.0, 165.0], [205.0, 155.0, 120.0], [165.0, 115.0, 80.0], [110.0, 75.0, 55.0]][rng.below(4)];
    let old = raw[field("age")] == 4;
    let hair = if old { [185.0, 185.0, 188.0] } else { [[25.0, 20.0, 20.0], [80.0, 55.0, 35.0], [140.0, 95.0, 55.0], [210.0, 180.0, 110.0]][rng.weighted(&[0.6, 0.25, 0.1, 0.05])] };
    // Unmarked colours: a two-tone pattern in colours outside the palette.
    let odd = [[230.0, 120.0, 30.0], [40.0, 170.0, 170.0], [170.0, 120.0, 90.0], [200.0, 80.0, 120.0]];
    let (up_c, up2) = match up {
        Some(u) => {
            let c = jitter(rng, UP_COLOURS[u], 0.08);
            (c, c)
        }
        None => (odd[rng.below(4)], odd[rng.below(4)]),
    };
    let down_c = match down {
        Some(d) => jitter(rng, DOWN_COLOURS[d], 0.08),
        None => odd[rng.below(4)],
    };
    Pedestrian {
        raw,
        skin,
        hair,
        hat: [[200.0, 40.0, 40.0], [30.0, 30.0, 30.0], [230.0, 230.0, 230.0], [40.0, 80.0, 180.0]][rng.below(4)],
        bag: [[40.0, 35.0, 30.0], [90.0, 60.0, 40.0], [30.0, 40.0, 80.0], [150.0, 30.0, 40.0]][rng.below(4)],
        up: up_c,
        up2,
        down: down_c,
        shoes: if rng.chance(0.6) { [30.0, 30.0, 30.0] } else { [225.0, 225.0, 225.0] },
    }
}

/// Flips each binary field (and redraws age) with probability `label_noise`; colours are kept.
pub fn noisy(raw: &[u8; 27], label_noise: f32, rng: &mut Rng) -> [u8; 27] {
    let mut out = *raw;
    for (i, name) in MARKET_FIELDS.iter().enumerate() {
        if name.starts_with("up") && name.len() > 2 || name.starts_with("down") && name.len() > 4 {
            continue; // colour fields
        }
        if rng.chance(label_noise) {
            out[i] = if *name == "age" { 1 + rng.below(4) as u8 } else { 3 - out[i] };
        }
    }
    out
}

/// Renders one image of an identity into RGB8 bytes of `width`×`height`.
pub fn render_pedestrian(p: &Pedestrian, width: usize, height: usize, rng: &mut Rng) -> Vec<u8> {
    let r = &p.raw;
    let is = |name: &str| r[field(name)] == 2;
    let age = r[field("age")];
    let bg: Color = [rng.range(70.0, 200.0), rng.range(70.0, 200.0), rng.range(70.0, 200.0)];
    let mut c = Canvas::new(width, height, DESIGN_W, DESIGN_H, bg);
    // Street: a ground band and some clutter.
    let ground: Color = [rng.range(80.0, 160.0), rng.range(80.0, 160.0), rng.range(80.0, 160.0)];
    c.rect(0.0, rng.range(85.0, 105.0), DESIGN_W, DESIGN_H, ground, 1.0);
    for _ in 0..2 {
        let col = [rng.range(40.0, 230.0), rng.range(40.0, 230.0), rng.range(40.0, 230.0)];
        let x = if rng.chance(0.5) { rng.range(-5.0, 12.0) } else { rng.range(52.0, 69.0) };
        c.rect(x - 6.0, rng.range(0.0, 80.0), x + 6.0, rng.range(80.0, 128.0), col, 0.6);
    }
    // Body geometry: children are smaller, women a little narrower; pose varies per image. The
    // age groups' heights are 5+ px apart at the quickstart's 48 px, wider than the per-image jitter.
    let scale = match age { 1 => 0.76, 2 => 0.88, _ => 1.0 } * rng.range(0.95, 1.04);
    let cx = 32.0 + rng.range(-3.0, 3.0);
    let foot = 122.0 + rng.range(-2.0, 2.0);
    let y = |v: f32| foot - (122.0 - v) * scale; // design height → image height
    let s = |v: f32| v * scale;
    let female = is("gender");
    let half = if female { 8.5 } else { 10.5 };
    let side = if rng.chance(0.5) { 1.0 } else { -1.0 }; // which side bags hang on

    // Long hair falls behind the shoulders.
    if is("hair") {
        c.rect(cx - s(7.5), y(14.0), cx + s(7.5), y(38.0), p.hair, 1.0);
    }
    // Backpack sticks out behind one shoulder, far enough (≈ 3 px at 24 px wide) to be resolved.
    if is("backpack") {
        c.rect(cx - side * s(half + 9.0), y(26.0), cx - side * s(half - 4.0), y(60.0), p.bag, 1.0);
    }
    // Legs and lower body.
    let hip = y(66.0);
    let knee = y(92.0);
    let ankle = y(116.0);
    let short_lower = is("down");
    let dress = r[field("clothes")] == 1;
    for sgn in [-1.0f32, 1.0] {
        c.rect(cx + sgn * s(1.0) - if sgn < 0.0 { s(7.5) } else { 0.0 }, hip, cx + sgn * s(1.0) + if sgn > 0.0 { s(7.5) } else { 0.0 }, ankle, p.skin, 1.0);
        c.rect(cx + sgn * s(4.5) - s(4.5), ankle, cx + sgn * s(4.5) + s(4.5), y(121.0), p.shoes, 1.0);
    }
    if dress {
        let hem = if short_lower { knee } else { y(110.0) };
        c.polygon(&[(cx - s(half - 1.0), hip - s(4.0)), (cx + s(half - 1.0), hip - s(4.0)), (cx + s(half + 6.0), hem), (cx - s(half + 6.0), hem)], p.down, 1.0);
    } else {
        let hem = if short_lower { knee } else { ankle };
        c.rect(cx - s(half - 1.0), hip - s(4.0), cx + s(half - 1.0), hip + s(4.0), p.down, 1.0);
        for sgn in [-1.0f32, 1.0] {
            let (x0, x1) = if sgn < 0.0 { (cx - s(half - 1.0), cx - s(0.7)) } else { (cx + s(0.7), cx + s(half - 1.0)) };
            c.rect(x0, hip, x1, hem, p.down, 1.0);
        }
    }
    // Torso and arms: short sleeves leave the forearms bare.
    let shoulder = y(27.0);
    c.rect(cx - s(half), shoulder, cx + s(half), hip - s(2.0), p.up, 1.0);
    if p.up2 != p.up {
        for k in 0..4 {
            let yy = shoulder + s(4.0 + 9.0 * k as f32);
            c.rect(cx - s(half), yy, cx + s(half), yy + s(4.0), p.up2, 1.0);
        }
    }
    let short_sleeve = is("up");
    for sgn in [-1.0f32, 1.0] {
        let (x0, x1) = if sgn < 0.0 { (cx - s(half + 5.5), cx - s(half)) } else { (cx + s(half), cx + s(half + 5.5)) };
        let sleeve_end = if short_sleeve { y(38.0) } else { y(60.0) };
        c.rect(x0, shoulder + s(1.0), x1, sleeve_end, p.up, 1.0);
        c.rect(x0, sleeve_end, x1, y(63.0), p.skin, 1.0);
    }
    // Shoulder bag: a strap across the chest and a bag at the hip.
    if is("bag") {
        c.line(cx - side * s(half - 1.0), shoulder + s(1.0), cx + side * s(half + 2.0), hip - s(4.0), s(2.4), [35.0, 30.0, 30.0], 1.0);
        // The bag hangs over the front of the torso, so it is not confused with a handbag held
        // beside the leg (same colour, same side).
        let (x0, x1) = (cx + side * s(half - 10.0), cx + side * s(half + 4.0));
        c.rect(x0.min(x1), hip - s(16.0), x0.max(x1), hip - s(2.0), p.bag, 1.0);
    }
    if is("backpack") {
        for sgn in [-1.0f32, 1.0] {
            c.line(cx + sgn * s(half - 3.0), shoulder, cx + sgn * s(half - 3.0), shoulder + s(18.0), s(2.6), [30.0, 30.0, 30.0], 1.0);
        }
    }
    // Handbag: held low beside the leg.
    if is("handbag") {
        let hx = cx + side * s(half + 5.0);
        c.line(hx, y(62.0), hx, y(66.0), s(1.6), [40.0, 30.0, 30.0], 1.0);
        c.rect(hx - s(7.0), y(64.0), hx + s(7.0), y(80.0), p.bag, 1.0);
    }
    // Head, hair, hat. The old stoop slightly forward.
    let hx = cx + if age == 4 { s(2.0) } else { 0.0 };
    c.rect(hx - s(2.5), y(20.0), hx + s(2.5), shoulder + s(1.0), p.skin, 1.0);
    c.ellipse(hx, y(14.0), s(6.0), s(7.5), 0.0, p.skin, 1.0);
    if !is("hat") {
        c.ellipse(hx, y(10.5), s(6.5), s(4.5), 0.0, p.hair, 1.0);
    }
    if is("hair") {
        for sgn in [-1.0f32, 1.0] {
            c.rect(hx + sgn * s(6.5) - s(2.0), y(10.0), hx + sgn * s(6.5) + s(2.0), y(32.0), p.hair, 1.0);
        }
    }
    if is("hat") {
        c.ellipse(hx, y(9.0), s(7.0), s(5.0), 0.0, p.hat, 1.0);
        c.rect(hx - s(9.5), y(9.5), hx + s(9.5), y(12.0), p.hat, 1.0);
    }
    // Camera: light and colour cast per image, slight blur at this resolution, sensor noise.
    let gain = rng.range(0.75, 1.2);
    c.grade([gain * rng.range(0.92, 1.08), gain * rng.range(0.92, 1.08), gain * rng.range(0.92, 1.08)], 4.0, rng);
    if rng.chance(0.3) {
        c.blur(0.8);
    }
    c.to_rgb8()
}

/// Short labels of an identity for the contact sheet.
pub fn describe(raw: &[u8; 27]) -> Vec<String> {
    let g = |n: &str| raw[field(n)];
    let ages = ["YOUNG", "TEEN", "ADULT", "OLD"];
    let up = ["BLACK", "WHITE", "RED", "PURPLE", "YELLOW", "GRAY", "BLUE", "GREEN"];
    let down = ["BLACK", "WHITE", "PINK", "PURPLE", "YELLOW", "GRAY", "BLUE", "GREEN", "BROWN"];
    let upc = (0..8).find(|&k| raw[field("upblack") + k] == 2).map(|k| up[k]).unwrap_or("-");
    let downc = (0..9).find(|&k| raw[field("downblack") + k] == 2).map(|k| down[k]).unwrap_or("-");
    let mut extras = Vec::new();
    for (n, l) in [("backpack", "BP"), ("bag", "BAG"), ("handbag", "HB"), ("hat", "HAT")] {
        if g(n) == 2 {
            extras.push(l);
        }
    }
    vec![
        format!("{} {}", if g("gender") == 2 { "F" } else { "M" }, ages[(g("age").clamp(1, 4) - 1) as usize]),
        format!("{} {}", if g("hair") == 2 { "LONG" } else { "SHORT" }, if g("up") == 2 { "SSLV" } else { "LSLV" }),
        format!("UP {upc}"),
        format!("DN {downc}"),
        format!("{} {}", if g("clothes") == 1 { "DRESS" } else { "PANTS" }, if g("down") == 2 { "SHORT" } else { "LONG" }),
        extras.join(" "),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_override_changes_that_field_and_nothing_else() {
        let n = 4000;
        let rates = Rates(vec![(field("hat"), 0.2), (field("up"), 0.7)]);
        let (mut a, mut b) = (Rng::new(9), Rng::new(9));
        let plain: Vec<Pedestrian> = (0..n).map(|_| sample_pedestrian(&mut a, &Rates::default())).collect();
        let over: Vec<Pedestrian> = (0..n).map(|_| sample_pedestrian(&mut b, &rates)).collect();
        let rate = |ps: &[Pedestrian], f: &str| ps.iter().filter(|p| p.raw[field(f)] == 2).count() as f32 / n as f32;
        assert!((rate(&over, "hat") - 0.2).abs() < 0.03 && rate(&plain, "hat") < 0.05);
        assert!((rate(&over, "up") - 0.7).abs() < 0.03 && rate(&plain, "up") > 0.9);
        for (p, o) in plain.iter().zip(&over) {
            for (i, name) in MARKET_FIELDS.iter().enumerate().filter(|(_, f)| **f != "hat" && **f != "up") {
                assert_eq!(p.raw[i], o.raw[i], "{name} changed");
            }
            assert_eq!((p.skin, p.up, p.down), (o.skin, o.up, o.down), "the draws stay in step");
        }
    }
}
