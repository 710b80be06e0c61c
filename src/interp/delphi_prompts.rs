//! The scorer prompts of EleutherAI's Delphi, byte for byte, from
//! `delphi/scorers/classifier/prompts/{detection,fuzz,intruder}_prompt.py`
//! at commit 3c2e1393 (Apache-2.0). The few-shot texts are GPT-2 byte-level
//! tokens as Delphi shows them (`Ċ` is a line end), kept as Delphi has them
//! so that the prompts equal Delphi's.

pub const DETECTION_SYSTEM: &str = "You are an intelligent and meticulous linguistics researcher.\n\nYou will be given a certain latent of text, such as \"male pronouns\" or \"text with negative sentiment\".\n\nYou will then be given several text examples. Your task is to determine which examples possess the latent.\n\nFor each example in turn, return 1 if the sentence is correctly labeled or 0 if the tokens are mislabeled. You must return your response in a valid Python list. Do not return anything else besides a Python list.\n";
/// (user, assistant) few-shot turns.
pub const DETECTION_EXAMPLES: [(&str, &str); 3] = [
    (
        "Latent explanation: Words related to American football positions, specifically the tight end position.\n\nTest examples:\n\nExample 0:<|endoftext|>Getty ImagesĊĊPatriots tight end Rob Gronkowski had his bossâĢĻ\nExample 1: names of months used in The Lord of the Rings:ĊĊâĢľâĢ¦the\nExample 2: Media Day 2015ĊĊLSU defensive end Isaiah Washington (94) speaks to the\nExample 3: shown, is generally not eligible for ads. For example, videos about recent tragedies,\nExample 4: line, with the left side âĢĶ namely tackle Byron Bell at tackle and guard Amini\n",
        "[1,0,0,0,1]",
    ),
    (
        "Latent explanation: The word \"guys\" in the phrase \"you guys\".\n\nTest examples:\n\nExample 0: enact an individual health insurance mandate?âĢĿ, Pelosi's response was to dismiss both\nExample 1: birth control access<|endoftext|> but I assure you women in Kentucky aren't laughing as they struggle\nExample 2: du Soleil Fall Protection Program with construction requirements that do not apply to theater settings because\nExample 3:Ċ<|endoftext|> distasteful. Amidst the slime lurk bits of Schadenfre\nExample 4: the<|endoftext|>ľI want to remind you all that 10 days ago (director Massimil\n",
        "[0,0,0,0,0]",
    ),
    (
        "Latent explanation: \"of\" before words that start with a capital letter.\n\nTest examples:\n\nExample 0: climate, TomblinâĢĻs Chief of Staff Charlie Lorensen said.Ċ\nExample 1: no wonderworking relics, no true Body and Blood of Christ, no true Baptism\nExample 2:ĊĊDeborah Sathe, Head of Talent Development and Production at Film London,\nExample 3:ĊĊIt has been devised by Director of Public Prosecutions (DPP)\nExample 4: and fair investigation not even include the Director of Athletics? Â· Finally, we believe the\n",
        "[1,1,1,1,1]",
    ),
];

pub const FUZZ_SYSTEM: &str = "You are an intelligent and meticulous linguistics researcher.\n\nYou will be given a certain latent of text, such as \"male pronouns\" or \"text with negative sentiment\". You will be given a few examples of text that contain this latent. Portions of the sentence which strongly represent this latent are between tokens << and >>.\n\nSome examples might be mislabeled. Your task is to determine if every single token within << and >> is correctly labeled. Consider that all provided examples could be correct, none of the examples could be correct, or a mix. An example is only correct if every marked token is representative of the latent\n\nFor each example in turn, return 1 if the sentence is correctly labeled or 0 if the tokens are mislabeled. You must return your response in a valid Python list. Do not return anything else besides a Python list.\n";
/// (user, assistant) few-shot turns.
pub const FUZZ_EXAMPLES: [(&str, &str); 3] = [
    (
        "Latent explanation: Words related to American football positions, specifically the tight end position.\n\nTest examples:\n\nExample 0:<|endoftext|>Getty ImagesĊĊPatriots<< tight end>> Rob Gronkowski had his bossâĢĻ\nExample 1: posted<|endoftext|>You should know this<< about>> offensive line coaches: they are large, demanding<< men>>\nExample 2: Media Day 2015ĊĊLSU<< defensive>> end Isaiah Washington (94) speaks<< to the>>\nExample 3:<< running backs>>,\" he said. .. Defensive<< end>> Carroll Phillips is improving and his injury is\nExample 4:<< line>>, with the left side âĢĶ namely<< tackle>> Byron Bell at<< tackle>> and<< guard>> Amini\n",
        "[1,0,0,1,1]",
    ),
    (
        "Latent explanation: The word \"guys\" in the phrase \"you guys\".\n\nTest examples:\n\nExample 0: if you are<< comfortable>> with it. You<< guys>> support me in many other ways already and\nExample 1: birth control access<|endoftext|> but I assure you<< women>> in Kentucky aren't laughing as they struggle\nExample 2:âĢĻs gig! I hope you guys<< LOVE>> her, and<< please>> be nice,\nExample 3:American, told<< Hannity>> that âĢľyou<< guys>> are playing the race card.âĢĿ\nExample 4:<< the>><|endoftext|>ľI want to<< remind>> you all that 10 days ago (director Massimil\n",
        "[0,0,0,0,0]",
    ),
    (
        "Latent explanation: \"of\" before words that start with a capital letter.\n\nTest examples:\n\nExample 0: climate, TomblinâĢĻs Chief<< of>> Staff Charlie Lorensen said.Ċ\nExample 1: no wonderworking relics, no true Body and Blood<< of>> Christ, no true Baptism\nExample 2:ĊĊDeborah Sathe, Head<< of>> Talent Development and Production at Film London,\nExample 3:ĊĊIt has been devised by Director<< of>> Public Prosecutions (DPP)\nExample 4: and fair investigation not even include the Director<< of>> Athletics? Â· Finally, we believe the\n",
        "[1,1,1,1,1]",
    ),
];

pub const INTRUDER_SYSTEM: &str = "You are an intelligent and meticulous linguistics researcher doing a \"intruder detection\" task.\n\nYou will then be given several text examples, either full sentences or words. Your task is to determine which examples should be classified as \"intruder\".\nSome sentences will have words highlighted with <> tags. Do not overthink.\n\nThere is only ever one intruder in the examples.\n\nYou should write [RESPONSE]: followed by the index of the intruder.\n\n";
/// (user, assistant) few-shot turns.
pub const INTRUDER_EXAMPLES: [(&str, &str); 3] = [
    (
        "Examples:\n\nExample 0:<|endoftext|>Getty ImagesĊĊPatriots tight end Rob Gronkowski had his bossâĢĻ\nExample 1: Media Day 2015ĊĊLSU defensive end Isaiah Washington (94) speaks to the\nExample 2: shown, is generally not eligible for ads. For example, videos about recent tragedies,\nExample 3: line, with the left side âĢĶ namely tackle Byron Bell at tackle and guard Amini\n",
        "[RESPONSE]: 2",
    ),
    (
        "Examples:\n\nExample 0: enact an individual health insurance mandate?âĢĿ, Pelosi's response was to dismiss both\nExample 1: climate, TomblinâĢĻs Chief of Staff Charlie Lorensen said.Ċ\nExample 2: no wonderworking relics, no true Body and Blood of Christ, no true Baptism\nExample 3:ĊĊIt has been devised by Director of Public Prosecutions (DPP)\nExample 4: and fair investigation not even include the Director of Athletics? Â· Finally, we believe the\n",
        "[RESPONSE]: 0",
    ),
    (
        "Examples:\n\nExample 0: Climbing\nExample 1: running\nExample 2: swim\nExample 3: eating\nExample 4: cycling\n",
        "[RESPONSE]: 3",
    ),
];
