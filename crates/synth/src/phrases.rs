//! Phrase tables for the dialogue, in English and Simplified Chinese.
//!
//! Each [`Phrase`] is one turn in several wordings. The two languages of a phrase say the same
//! thing, so a lead's English and Chinese dialogues are translations of one conversation. In
//! templates `@` stands for the car model, `#` for a competitor's model and `$` for the rep's name.

/// One turn in several wordings per language.
#[derive(Debug)]
pub(crate) struct Phrase {
    pub en: &'static [&'static str],
    pub zh: &'static [&'static str],
}

macro_rules! phrase {
    ($name:ident, en: [$($en:expr),+ $(,)?], zh: [$($zh:expr),+ $(,)?] $(,)?) => {
        pub(crate) const $name: Phrase = Phrase { en: &[$($en),+], zh: &[$($zh),+] };
    };
}

/// The rep's name (one rep per lead), in English and Chinese.
pub(crate) const REPS: [(&str, &str); 4] = [
    ("Anna", "小王"),
    ("Leo", "小李"),
    ("Mia", "小陈"),
    ("Chen", "小张"),
];

/// Competitors' models (brand-neutral, fictional).
pub(crate) const COMPETITORS: [&str; 5] =
    ["Volta 7", "Kestrel EV", "Lumen Q5", "Orbit S", "Zen One"];

// ----- Call mechanics -------------------------------------------------------------------------

phrase!(NOT_ANSWERED,
    en: ["[call not answered]", "[call not answered]", "[no answer, left voicemail]"],
    zh: ["[电话未接通]", "[电话未接通]", "[无人接听，已留言]"]);
phrase!(SMS_FIRST,
en: [
    "[SMS] Hi, this is $ from Aurora Motors. Thanks for your interest in the @! When is a good time to call?",
    "[SMS] Hello, $ from Aurora Motors here, we received your enquiry about the @. Reply with a time that suits you.",
],
zh: [
    "[短信] 您好，我是Aurora汽车的$，感谢您关注@！请问什么时候方便给您打电话？",
    "[短信] 您好，我是Aurora汽车的$，已收到您关于@的咨询，方便的话回复一个时间。",
]);
phrase!(GREET_FIRST,
en: [
    "Hello, this is $ from Aurora Motors. You left your number about the @?",
    "Hi, $ from Aurora Motors here, thanks for your enquiry about the @.",
    "Good afternoon, this is $ at Aurora Motors, calling about the @ you asked about.",
],
zh: [
    "您好，我是Aurora汽车的$，您之前留了电话咨询@对吧？",
    "您好，这边是Aurora汽车顾问$，感谢您咨询@。",
    "下午好，我是Aurora汽车的$，关于您问的@给您回个电话。",
]);
phrase!(GREET_AGAIN,
en: [
    "Hi, it's $ from Aurora Motors again, following up on the @.",
    "Hello again, $ from Aurora Motors. Is now a good time?",
],
zh: [
    "您好，我是Aurora汽车的$，再跟您跟进一下@的情况。",
    "您好，又是我，Aurora汽车的$，现在方便说话吗？",
]);
phrase!(CUST_HELLO,
    en: ["Hi, yes.", "Yes, speaking.", "Hello? Sorry, it's a bit noisy here.", "Oh hi, yes, that was me."],
    zh: ["你好，是的。", "嗯，我是。", "喂？不好意思这边有点吵。", "哦你好，是我留的。"]);
phrase!(BUSY,
    en: ["Sorry, I'm driving, can you call me later?", "I'm in a meeting, call me back tomorrow."],
    zh: ["不好意思我在开车，晚点再打吧。", "我在开会，明天再联系吧。"]);
phrase!(REP_CLOSE,
    en: [
        "Thanks, I'll send you the brochure and price list on WeChat.",
        "Great, I'll follow up with the details by message.",
        "Thank you, talk soon!",
    ],
    zh: ["好的，我微信把资料和价格表发您。", "好的，稍后我把详细信息发给您。", "好的，那先这样，回头联系！"]);
phrase!(REP_UNDERSTOOD,
    en: ["Understood, thanks for letting me know.", "No problem, feel free to call us if anything changes."],
    zh: ["明白了，谢谢告知。", "没关系，有变化随时联系我们。"]);
phrase!(CUST_BYE,
    en: ["OK, bye.", "Sure, thanks.", "OK."],
    zh: ["好的，拜拜。", "行，谢谢。", "嗯好。"]);

// ----- Urgency (the hidden urgency latent shows only here) -----------------------------------

phrase!(REP_WHEN,
    en: ["When are you planning to get the car?", "Do you have a timeline in mind?"],
    zh: ["您大概打算什么时候买车呢？", "您这边大概什么时候要用车？"]);
phrase!(HURRY,
en: [
    "I am in a hurry, my lease runs out next month.",
    "We need a car before the holiday, so the sooner the better.",
    "I'm in a hurry actually, my old car just broke down.",
],
zh: [
    "我挺着急的，旧车的租约下个月就到期了。",
    "节前就得用车，越快越好。",
    "说实话我比较急，旧车刚坏了。",
]);
phrase!(NO_HURRY,
    en: [
        "I'm not in a hurry, maybe next year.",
        "No rush at all, my current car is fine for now.",
        "I am not in a hurry, just planning ahead.",
    ],
    zh: ["我不着急，可能明年再说吧。", "不急不急，现在的车还能开。", "我不赶时间，就是先提前了解一下。"]);
phrase!(SOMETIME,
    en: ["Sometime in the next few months, I guess.", "Not sure yet, depends on a few things."],
    zh: ["大概这几个月吧。", "还不确定，看情况吧。"]);

// ----- Price, and delivery (order matters) ---------------------------------------------------

phrase!(PRICE_OBJECTION,
    en: [
        "The price is a bit high for us.",
        "Honestly the @ is more than we wanted to spend.",
        "Hmm, the price is too high compared to what I expected.",
    ],
    zh: ["价格有点高啊。", "说实话@比我们的预算贵了点。", "嗯，价格比我预想的高不少。"]);
phrase!(REP_OFFER,
en: [
    "This month there's a 10k subsidy and a free home charger.",
    "We can include the \"launch edition\" package and a 10k trade-in bonus.",
    "I can check with my manager for an extra discount, plus 0% for 24 months.",
],
zh: [
    "这个月有一万元的补贴，还送家充桩。",
    "可以送\"首发版\"礼包，再加一万的置换补贴。",
    "我可以帮您跟经理申请额外优惠，还有24期免息。",
]);
phrase!(PRICE_RESOLVED,
    en: [
        "OK, with that the price is fine.",
        "Alright, that makes the price work for us.",
        "If that's included, the price is fine.",
    ],
    zh: ["行，这样的话价格就可以接受了。", "好吧，这样价格就合适了。", "如果包含这些的话，价格没问题。"]);
phrase!(PRICE_UNRESOLVED,
    en: [
        "Even with that the price is not fine for us.",
        "Still too expensive, I'll think about it.",
        "That doesn't make the price work for us, sorry.",
    ],
    zh: ["就算这样，价格还是接受不了。", "还是太贵了，我再考虑考虑。", "这样价格还是不合适，不好意思。"]);
phrase!(DELIVERY_ASK,
    en: [
        "Then how soon can I get delivery?",
        "How long is the delivery time for the @?",
        "When is the earliest delivery date?",
    ],
    zh: ["那我想问一下提车要多久？", "@现在提车要等多久？", "最早什么时候能提车？"]);
phrase!(DELIVERY_ANSWER,
    en: [
        "About three weeks for the stock colours.",
        "Four to six weeks, a bit faster if you take a car from stock.",
    ],
    zh: ["现车颜色大概三周能提。", "四到六周吧，要现车的话会快一些。"]);

// ----- Test drive ----------------------------------------------------------------------------

phrase!(TEST_DRIVE_ASK,
    en: [
        "Can I book a test drive slot this Saturday?",
        "I'd like to test drive the @, what slots do you have?",
    ],
    zh: ["这周六能约个试驾吗？", "我想试驾一下@，有哪些时间可以约？"]);
phrase!(TEST_DRIVE_SLOT,
    en: ["Sure, 10am or 3pm works.", "Yes, Saturday morning is free, I'll book it for you."],
    zh: ["可以的，上午十点或者下午三点都行。", "可以，周六上午有空位，我帮您约上。"]);
phrase!(TEST_DRIVE_INVITE,
    en: ["Would you like to come in for a test drive?", "We have a test drive slot free this weekend, interested?"],
    zh: ["要不要来店里试驾一下？", "这周末还有试驾名额，您有兴趣吗？"]);
phrase!(TEST_DRIVE_MAYBE,
    en: ["Maybe, let me check my schedule.", "Possibly, I'll let you know."],
    zh: ["再说吧，我看看时间。", "可能吧，到时候再告诉你。"]);
phrase!(TEST_DRIVE_NO,
    en: ["I don't need a test drive for now.", "No test drive for now, thanks."],
    zh: ["暂时不需要试驾。", "试驾就先不用了，谢谢。"]);

// ----- Trade-in and financing ----------------------------------------------------------------

phrase!(TRADE_IN_ASK,
    en: [
        "How much could I get for my old car as a trade-in?",
        "Can you do a trade-in valuation of my current car?",
    ],
    zh: ["我的旧车能置换多少钱？", "能帮我评估一下旧车置换的价格吗？"]);
phrase!(TRADE_IN_ANSWER,
    en: ["Send me a few photos and I'll get you a valuation today."],
    zh: ["您发几张照片给我，今天就给您出个估价。"]);
phrase!(TRADE_IN_UNSURE,
    en: ["I have an old car but I'm not sure about trading it in."],
    zh: ["我有辆旧车，还没想好要不要置换。"]);
phrase!(FINANCE_YES,
    en: ["Do you have any low-interest financing plans?", "I'm interested in financing, what are the rates?"],
    zh: ["分期有没有低息的方案？", "我想办分期，利率是多少？"]);
phrase!(FINANCE_NO,
    en: ["I'm not interested in financing, I'll pay in full.", "No financing, we'll pay cash."],
    zh: ["不需要贷款，我全款。", "不用分期，直接全款。"]);
phrase!(REP_FINANCE,
    en: ["Would you consider financing?"],
    zh: ["您考虑分期吗？"]);
phrase!(FINANCE_UNSURE,
    en: ["Not sure yet.", "Haven't decided, depends on the rate."],
    zh: ["还没想好。", "看利率吧，还没定。"]);

// ----- Competitors and deposits --------------------------------------------------------------

phrase!(COMPETITOR_DEPOSIT,
    en: [
        "I already put a deposit on a #, sorry.",
        "We've already put a deposit on the #, so probably not.",
    ],
    zh: ["我已经在#那边交了定金了，不好意思。", "我们已经交了#的定金，应该不考虑了。"]);
phrase!(COMPETITOR_COMPARE,
    en: ["I'm comparing it with the #.", "The # seems similar, I'm comparing the two."],
    zh: ["我在跟#对比一下。", "#看着也差不多，我在比较。"]);
phrase!(NO_DEPOSIT_YET,
    en: [
        "I looked at the # too, but I haven't put a deposit anywhere yet.",
        "I haven't put a deposit on anything yet.",
    ],
    zh: ["#我也看过，不过还没在别家交定金。", "我还没在任何地方交定金。"]);
phrase!(OWN_DEPOSIT,
    en: [
        "If the numbers work I'd like to put down a deposit this week.",
        "Can I put a deposit on the @ today?",
    ],
    zh: ["合适的话这周就想把定金交了。", "今天能先把@的定金交了吗？"]);

// ----- Family, interest, hedges, chit-chat ---------------------------------------------------

phrase!(ASK_FAMILY,
    en: ["I need to ask my wife first.", "I have to discuss it with my husband.", "My parents will help pay, so I need to ask them."],
    zh: ["我得回去跟老婆商量一下。", "要跟我老公商量商量。", "爸妈会出一部分钱，得问问他们。"]);
phrase!(FAMILY_AGREED,
    en: [
        "My wife already agreed, we just need to pick the colour.",
        "My husband is on board, we just need to pick a date.",
    ],
    zh: ["老婆已经同意了，就差选颜色了。", "我老公也同意了，就等定个时间。"]);
phrase!(VERY_INTERESTED,
    en: ["I'm very interested in the @.", "The @ is exactly what we're looking for."],
    zh: ["我对@挺感兴趣的。", "@正是我们想要的车。"]);
phrase!(NOT_INTERESTED,
    en: ["To be honest I'm not really interested anymore.", "I'm not interested at the moment."],
    zh: ["说实话我现在不太感兴趣了。", "暂时没什么兴趣了。"]);
phrase!(JUST_LOOKING,
    en: ["Just looking for now.", "I'm just browsing, no plans yet."],
    zh: ["先随便看看。", "我就是先了解一下，还没计划。"]);
phrase!(CHITCHAT,
    en: [
        "Is the showroom open on Sundays?",
        "Haha, the weather is crazy today.",
        "Does the @ come in dark green?",
        "How far can it really go in winter?",
        "My neighbour has one, he says it's quiet.",
    ],
    zh: ["你们周日开门吗？", "哈哈，今天天气真热。", "@有墨绿色吗？", "冬天实际续航能跑多少？", "我邻居开的就是这款，说挺安静的。"]);
phrase!(REP_CHITCHAT,
    en: ["Yes, of course.", "Good question, I'll send you the details.", "Ha, yes!"],
    zh: ["是的，没问题。", "好问题，我把资料发您。", "哈哈是的！"]);
phrase!(APP_USED,
    en: ["I tried the configurator in your app.", "I saw the @ in the app, the interior looks nice."],
    zh: ["我在App上配了一下车。", "我在App里看了@，内饰挺好看的。"]);

/// Every phrase (for consistency tests).
#[cfg(test)]
pub(crate) const ALL: &[&Phrase] = &[
    &NOT_ANSWERED,
    &SMS_FIRST,
    &GREET_FIRST,
    &GREET_AGAIN,
    &CUST_HELLO,
    &BUSY,
    &REP_CLOSE,
    &REP_UNDERSTOOD,
    &CUST_BYE,
    &REP_WHEN,
    &HURRY,
    &NO_HURRY,
    &SOMETIME,
    &PRICE_OBJECTION,
    &REP_OFFER,
    &PRICE_RESOLVED,
    &PRICE_UNRESOLVED,
    &DELIVERY_ASK,
    &DELIVERY_ANSWER,
    &TEST_DRIVE_ASK,
    &TEST_DRIVE_SLOT,
    &TEST_DRIVE_INVITE,
    &TEST_DRIVE_MAYBE,
    &TEST_DRIVE_NO,
    &TRADE_IN_ASK,
    &TRADE_IN_ANSWER,
    &TRADE_IN_UNSURE,
    &FINANCE_YES,
    &FINANCE_NO,
    &REP_FINANCE,
    &FINANCE_UNSURE,
    &COMPETITOR_DEPOSIT,
    &COMPETITOR_COMPARE,
    &NO_DEPOSIT_YET,
    &OWN_DEPOSIT,
    &ASK_FAMILY,
    &FAMILY_AGREED,
    &VERY_INTERESTED,
    &NOT_INTERESTED,
    &JUST_LOOKING,
    &CHITCHAT,
    &REP_CHITCHAT,
    &APP_USED,
];
